"""The SMTP mailer pipelines (RFC 2920) with a server that offers it: MAIL, RCPT and DATA
go out together, and each refusal means what it means without pipelining.

The server here answers nothing of a transaction before it has read all three commands,
so a client that waited for each answer would stall until its timeout.
"""
import socketserver
import threading
from contextlib import contextmanager

import pytest

from app.mail.compose import Outgoing
from app.mail.mailers import PermanentFailure, SMTPMailer, TemporaryFailure

OK = {"mail": "250 OK", "rcpt": "250 OK", "data": "354 Go ahead", "end": "250 Queued"}
MESSAGE = Outgoing("<m1@acme.test>", b"Subject: Hi\r\n\r\nHello\r\n.starts with a dot\r\n")


class Script:
    """The answers for each coming transaction, and what the server saw."""

    def __init__(self, *transactions):
        self.transactions = list(transactions)
        self.received = []     # (mail line, rcpt line, data) per message kept
        self.connections = 0
        self.stalled = False   # a command of a transaction came alone
        self.hang_up_on_rset = False


class Handler(socketserver.StreamRequestHandler):
    timeout = 5

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        script = self.server.script
        script.connections += 1
        self.reply("220 strict ESMTP")
        for raw in self.rfile:
            verb = raw[:4].upper()
            if verb == b"EHLO":
                self.reply("250-strict\r\n250-PIPELINING\r\n250 8BITMIME")
            elif verb == b"RSET" and script.hang_up_on_rset:
                return
            elif verb in (b"RSET", b"NOOP"):
                self.reply("250 OK")
            elif verb == b"QUIT":
                self.reply("221 Bye")
                return
            elif verb == b"MAIL":
                if not self.transaction(script, raw):
                    return
            else:
                self.reply("500 What?")

    def transaction(self, script, mail):
        # The other two commands must already be on their way: look without waiting.
        self.request.settimeout(0.5)
        try:
            rcpt, data = self.rfile.readline(), self.rfile.readline()
        except TimeoutError:
            script.stalled = True
            return False
        finally:
            self.request.settimeout(self.timeout)
        answers = {**OK, **(script.transactions.pop(0) if script.transactions else {})}
        for command in ("mail", "rcpt", "data"):
            self.reply(answers[command])
            if answers[command].startswith("421"):
                return False  # going away: hang up
        if not data.upper().startswith(b"DATA") or not answers["data"].startswith("354"):
            return True
        lines = []
        for line in self.rfile:
            if line == b".\r\n":
                script.received.append((mail.strip(), rcpt.strip(), b"".join(lines)))
                self.reply(answers["end"])
                return True
            lines.append(line)
        return False  # the client hung up before the end of the data


@contextmanager
def strict_server(script):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.script = script
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def send_all(script, count=1):
    """Send MESSAGE ``count`` times over one mailer; the outcome of each."""
    outcomes = []
    with strict_server(script) as port:
        mailer = SMTPMailer(host="127.0.0.1", port=port, timeout=3)
        for _ in range(count):
            try:
                mailer.send(MESSAGE, sender="ada@acme.test", recipient="grace@example.com")
                outcomes.append("sent")
            except (TemporaryFailure, PermanentFailure) as exc:
                outcomes.append(exc)
        mailer.close()
    return outcomes


def test_commands_go_out_together_and_the_message_arrives_dot_stuffed():
    script = Script()
    assert send_all(script, count=2) == ["sent", "sent"]
    assert not script.stalled
    assert script.connections == 1
    mail, rcpt, data = script.received[0]
    assert mail.startswith(b"MAIL FROM:<ada@acme.test>")
    assert rcpt == b"RCPT TO:<grace@example.com>"
    assert data == b"Subject: Hi\r\n\r\nHello\r\n..starts with a dot\r\n"


@pytest.mark.parametrize("answers, kind, bounce", [
    ({"mail": "550 5.7.1 Sender rejected", "rcpt": "503 No sender", "data": "503 No"},
     PermanentFailure, False),
    ({"mail": "451 4.3.0 Try later", "rcpt": "503 No sender", "data": "503 No"},
     TemporaryFailure, False),
    ({"rcpt": "550 5.1.1 User unknown", "data": "554 No valid recipients"},
     PermanentFailure, True),
    ({"rcpt": "452 4.2.2 Mailbox full", "data": "554 No valid recipients"},
     TemporaryFailure, False),
    ({"data": "554 5.6.0 Not now, not ever"}, PermanentFailure, True),
    ({"end": "552 5.3.4 Message too big"}, PermanentFailure, True),
    ({"end": "451 4.3.0 Local error"}, TemporaryFailure, False),
], ids=["mail-5xx", "mail-4xx", "rcpt-5xx", "rcpt-4xx", "data-5xx", "end-5xx", "end-4xx"])
def test_a_refusal_means_what_it_means_unpipelined_and_the_connection_goes_on(answers, kind,
                                                                               bounce):
    script = Script(answers)
    first, second = send_all(script, count=2)
    assert isinstance(first, kind) and first.bounce == bounce
    assert first.code == int(next(a for a in answers.values() if a[0] in "45")[:3])
    assert second == "sent"
    assert script.connections == 1  # reset, not dropped
    assert len(script.received) == 1 + ("end" in answers)


def test_a_refusal_stays_what_it_was_when_the_server_hangs_up_at_the_reset():
    script = Script({"rcpt": "550 5.1.1 User unknown", "data": "554 No valid recipients"})
    script.hang_up_on_rset = True
    first, second = send_all(script, count=2)
    assert isinstance(first, PermanentFailure) and first.bounce and first.code == 550
    assert second == "sent"
    assert script.connections == 2


def test_a_server_that_waits_for_data_after_refusing_the_recipient_is_hung_up_on():
    script = Script({"rcpt": "550 5.1.1 User unknown", "data": "354 Go ahead anyway"})
    first, second = send_all(script, count=2)
    assert isinstance(first, PermanentFailure) and first.bounce
    assert second == "sent"
    assert script.connections == 2
    assert len(script.received) == 1


def test_a_server_going_away_mid_transaction_is_a_temporary_failure_and_a_new_connection():
    script = Script({"mail": "421 4.3.2 Shutting down"})
    first, second = send_all(script, count=2)
    assert isinstance(first, TemporaryFailure) and first.code == 421
    assert second == "sent"
    assert script.connections == 2
