"""The SMTP mailer (plain smtplib) against a real server on loopback (aiosmtpd): each
refusal is classified as temporary or permanent, a refused recipient is a bounce, the
connection is reused after a refusal and opened again after the server drops it.
"""
from contextlib import contextmanager

import pytest
from aiosmtpd.controller import Controller

from app.mail.compose import Outgoing
from app.mail.mailers import PermanentFailure, SMTPMailer, TemporaryFailure
from tests.sending.conftest import free_port

MESSAGE = Outgoing("<m1@acme.test>", b"Subject: Hi\r\n\r\nHello\r\n.starts with a dot\r\n")


class Script:
    """Answers for the coming transactions (mail / rcpt / data, "drop" to hang up), and
    what the server received."""

    def __init__(self, *transactions):
        self.transactions = list(transactions)
        self.answers = {}
        self.received = []
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    def _answer(self, server, command):
        answer = self.answers.get(command)
        if answer == "drop":
            server.transport.close()
        return answer

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.answers = self.transactions.pop(0) if self.transactions else {}
        answer = self._answer(server, "mail")
        if answer:
            return answer
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self._answer(server, "rcpt")
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        answer = self._answer(server, "data")
        if answer:
            return answer
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content or envelope.content))
        return "250 Queued"


@contextmanager
def server(script):
    controller = Controller(script, hostname="127.0.0.1", port=free_port(),
                            decode_data=False)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def send_all(script, count=1):
    """Send MESSAGE ``count`` times over one mailer; the outcome of each."""
    outcomes = []
    with server(script) as port:
        mailer = SMTPMailer(host="127.0.0.1", port=port, timeout=3)
        for _ in range(count):
            try:
                mailer.send(MESSAGE, sender="ada@acme.test", recipient="grace@example.com")
                outcomes.append("sent")
            except (TemporaryFailure, PermanentFailure) as exc:
                outcomes.append(exc)
        mailer.close()
    return outcomes


def test_messages_go_over_one_connection_and_arrive_dot_stuffed_and_whole():
    script = Script()
    assert send_all(script, count=2) == ["sent", "sent"]
    assert script.connections == 1
    sender, recipients, data = script.received[0]
    assert (sender, recipients) == ("ada@acme.test", ["grace@example.com"])
    assert data == b"Subject: Hi\r\n\r\nHello\r\n.starts with a dot\r\n"


@pytest.mark.parametrize("answers, kind, bounce", [
    ({"mail": "550 5.7.1 Sender rejected"}, PermanentFailure, False),
    ({"mail": "451 4.3.0 Try later"}, TemporaryFailure, False),
    ({"rcpt": "550 5.1.1 User unknown"}, PermanentFailure, True),
    ({"rcpt": "452 4.2.2 Mailbox full"}, TemporaryFailure, False),
    ({"data": "552 5.3.4 Message too big"}, PermanentFailure, True),
    ({"data": "451 4.3.0 Local error"}, TemporaryFailure, False),
], ids=["mail-5xx", "mail-4xx", "rcpt-5xx", "rcpt-4xx", "data-5xx", "data-4xx"])
def test_a_refusal_is_classified_and_the_connection_goes_on(answers, kind, bounce):
    script = Script(answers)
    first, second = send_all(script, count=2)
    assert isinstance(first, kind) and first.bounce == bounce
    assert first.code == int(next(iter(answers.values()))[:3])
    assert second == "sent"
    assert script.connections == 1  # reset, not dropped
    assert len(script.received) == 1


def test_a_server_going_away_is_a_temporary_failure_and_a_new_connection():
    script = Script({"mail": "421 4.3.2 Shutting down"})
    first, second = send_all(script, count=2)
    assert isinstance(first, TemporaryFailure) and first.code == 421
    assert second == "sent"
    assert script.connections == 2
    assert len(script.received) == 1


# Dropped after the data (the message went out whole): tests/sending/test_unconfirmed.py.
@pytest.mark.parametrize("command", ["mail", "rcpt"])
def test_a_dropped_connection_is_a_temporary_failure_and_the_next_send_reconnects(command):
    script = Script({command: "drop"})
    first, second = send_all(script, count=2)
    assert isinstance(first, TemporaryFailure) and not first.bounce
    assert second == "sent"
    assert script.connections == 2
    assert len(script.received) == 1
