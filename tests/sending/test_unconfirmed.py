"""A relay that goes away after the final dot of the data: the message was handed over
whole and may have been taken, so it is recorded ``unconfirmed``, never sent again, and
its lead moves on. A failure before the final dot is still retried.

Real aiosmtpd servers on loopback; the clock is frozen and moved past every backoff.
"""
import asyncio
import datetime as dt

import pytest
from aiosmtpd.smtp import SMTP as SMTPProtocol

from app import database
from app.lifecycle import LeadStatus, MessageStatus
from app.mail.compose import Outgoing
from app.mail.mailers import Phase, SMTPMailer, TemporaryFailure, Unconfirmed
from app.models import Lead, Message
from app.worker import BACKOFF_MINUTES
from tests.sending.conftest import MONDAY_10, Inbox, campaign, iso, lead_of, serving
from tests.sending.test_concurrency import serve_smtp
from tests.sending.test_failures import GRACE, ONE_STEP, TWO_STEPS, dispatcher_on

MESSAGE = Outgoing("<m1@acme.test>", b"Subject: Hi\r\n\r\nHello\r\n")
TIMEOUT = 0.5  # the mailer's socket timeout in these tests, in seconds


class GoneAfterData(Inbox):
    """Takes the first ``times`` messages (they are received) and then, instead of an
    answer: ``"drop"`` closes the connection, ``"sleep"`` says nothing past the client's
    timeout, ``"garbage"`` writes a line that is no SMTP reply."""

    def __init__(self, how, times=1):
        super().__init__()
        self.how, self.times = how, times

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if not self.times:
            return reply
        self.times -= 1
        if self.how == "drop":
            server.transport.close()
        elif self.how == "sleep":
            await asyncio.sleep(TIMEOUT * 3)
        elif self.how == "garbage":
            return "thanks, got it"
        return reply


class DropAtDataCommand(SMTPProtocol):
    """Hangs up on the first DATA command, before its 354: no data was sent."""

    dropped = 0

    async def smtp_DATA(self, arg):
        if not DropAtDataCommand.dropped:
            DropAtDataCommand.dropped += 1
            self.transport.close()
            return None
        return await super().smtp_DATA(arg)


def first_fails_second_sent(port):
    """Send MESSAGE twice over one mailer: the first send's failure (the second must go)."""
    mailer = SMTPMailer(host="127.0.0.1", port=port, timeout=TIMEOUT)
    try:
        mailer.send(MESSAGE, sender="ada@acme.test", recipient=GRACE)
    except (TemporaryFailure, Unconfirmed) as exc:
        failure = exc
    else:
        pytest.fail("the first send went through")
    mailer.send(MESSAGE, sender="ada@acme.test", recipient=GRACE)
    mailer.close()
    return failure


def message_row(campaign_id, email_address):
    with database.connection():
        return (Message.select().join(Lead, on=(Message.lead == Lead.id))
                .where((Message.campaign == campaign_id) & (Lead.email == email_address))
                .get())


def retry_passes(dispatcher, frozen):
    """Run a pass after each backoff a retried mail would wait: what they sent."""
    sent = 0
    for minutes in BACKOFF_MINUTES:
        frozen.advance(minutes=minutes, seconds=1)
        sent += dispatcher.run_once().sent
    return sent


# ---- the mailer -------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["drop", "sleep", "garbage"])
def test_no_answer_after_the_final_dot_is_unconfirmed_and_the_next_send_reconnects(how):
    inbox = GoneAfterData(how)
    with serving(inbox):
        failure = first_fails_second_sent(inbox.port)
    assert isinstance(failure, Unconfirmed) and failure.phase is Phase.REPLY
    assert len(inbox.messages) == 2
    assert inbox.messages[0]["data"] == MESSAGE.data


def test_a_drop_at_the_data_command_is_a_temporary_failure_before_the_body():
    inbox = Inbox()
    DropAtDataCommand.dropped = 0
    with serve_smtp(inbox, DropAtDataCommand) as port:
        failure = first_fails_second_sent(port)
    assert isinstance(failure, TemporaryFailure) and failure.phase is Phase.ENVELOPE
    assert len(inbox.messages) == 1


# ---- the dispatcher ---------------------------------------------------------------------

@pytest.mark.parametrize("how", ["drop", "sleep", "garbage"])
def test_a_relay_gone_after_the_data_gets_one_copy_and_the_lead_moves_on(
        api, app, launch, frozen, how):
    inbox = GoneAfterData(how)
    with serving(inbox):
        campaign_id = launch(leads=[{"email": GRACE}], sequence=TWO_STEPS)
        dispatcher = dispatcher_on(app, inbox.port)
        dispatcher.mailer.timeout = TIMEOUT

        summary = dispatcher.run_once()

        assert (summary.unconfirmed, summary.sent, summary.retried, summary.failed,
                summary.bounced) == (1, 0, 0, 0, 0)
        row = message_row(campaign_id, GRACE)
        assert (row.step, row.status) == (1, MessageStatus.UNCONFIRMED)
        assert "after the message was sent" in row.error
        # The lead moved on to step 2, as the reaper moves it: not retried, not failed.
        lead = lead_of(api, campaign_id, GRACE)
        assert (lead["status"], lead["current_step"]) == ("in_progress", 1)
        assert lead["next_send_at"] == iso(MONDAY_10 + dt.timedelta(days=1))
        assert lead["last_error"] is None
        stats = campaign(api, campaign_id)["stats"]
        assert (stats["sent"], stats["bounced"]) == (0, 0)

        # Every retry pass a temporary failure would have had: no second copy.
        assert retry_passes(dispatcher, frozen) == 0
        assert inbox.counts() == {(GRACE, "Hello "): 1}

        # The next step goes out on its day, once.
        frozen.freeze(MONDAY_10 + dt.timedelta(days=1, minutes=1))
        assert dispatcher.run_once().sent == 1
        assert retry_passes(dispatcher, frozen) == 0
    assert sorted(inbox.counts().values()) == [1, 1]
    assert len(inbox.messages) == 2
    lead = lead_of(api, campaign_id, GRACE)
    assert (lead["status"], lead["current_step"]) == ("completed", 2)
    assert campaign(api, campaign_id)["stats"]["sent"] == 1


def test_an_unconfirmed_last_step_completes_the_lead_and_the_campaign(api, app, launch,
                                                                      frozen):
    inbox = GoneAfterData("drop")
    with serving(inbox):
        campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
        dispatcher = dispatcher_on(app, inbox.port)
        assert dispatcher.run_once().unconfirmed == 1
        assert retry_passes(dispatcher, frozen) == 0
    assert len(inbox.messages) == 1
    lead = lead_of(api, campaign_id, GRACE)
    assert (lead["status"], lead["next_send_at"]) == (LeadStatus.COMPLETED, None)
    data = campaign(api, campaign_id)
    assert (data["status"], data["stats"]["sent"]) == ("completed", 0)


def test_the_rest_of_the_batch_goes_out_over_a_new_connection(api, app, launch, frozen):
    inbox = GoneAfterData("drop")
    with serving(inbox):
        launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"},
                      {"email": "c@example.com"}], sequence=ONE_STEP)
        summary = dispatcher_on(app, inbox.port).run_once()
    assert (summary.unconfirmed, summary.sent) == (1, 2)
    assert sorted(inbox.counts().values()) == [1, 1, 1]


def test_a_drop_at_the_data_command_is_retried_and_delivered_once(api, app, launch, frozen):
    inbox = Inbox()
    DropAtDataCommand.dropped = 0
    with serve_smtp(inbox, DropAtDataCommand) as port:
        campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
        dispatcher = dispatcher_on(app, port)
        summary = dispatcher.run_once()
        assert (summary.retried, summary.unconfirmed) == (1, 0)
        assert inbox.messages == []
        lead = lead_of(api, campaign_id, GRACE)
        assert (lead["status"], lead["current_step"]) == ("in_progress", 0)
        assert lead["next_send_at"] == iso(MONDAY_10 + dt.timedelta(minutes=1))
        assert retry_passes(dispatcher, frozen) == 1
    assert inbox.counts() == {(GRACE, "Hello "): 1}
    assert campaign(api, campaign_id)["stats"]["sent"] == 1
