"""What an SMTP failure does: temporary ones are retried with backoff and delivered once in
the end; a permanent refusal of the recipient bounces the lead and suppresses the address."""
import datetime as dt

import pytest

from app import database
from app.mail.compose import Composer
from app.mail.mailers import SMTPMailer
from app.models import Campaign, Message
from app.worker import Dispatcher
from tests.sending.conftest import (
    MONDAY_10,
    Inbox,
    act,
    add_leads,
    campaign,
    free_port,
    iso,
    lead_of,
    leads_of,
    serving,
)

ONE_STEP = [{"subject": "Hello {{firstName}}", "body": "Hi"}]
TWO_STEPS = [ONE_STEP[0], {"subject": "", "body": "Again", "delay": 1, "delay_unit": "days"}]
GRACE = "grace@example.com"


class DroppingInbox(Inbox):
    """Closes the connection at the RCPT of the first ``drops`` messages, before any data
    (a drop after the data: tests/sending/test_unconfirmed.py)."""

    def __init__(self, drops, **options):
        super().__init__(**options)
        self.drops = drops

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.drops:
            self.drops -= 1
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def dispatcher_on(app, port):
    return Dispatcher(mailer=SMTPMailer(host="127.0.0.1", port=port, timeout=5),
                      composer=Composer(base_url=app.config["BASE_URL"],
                                        secret=app.config["SECRET_KEY"]),
                      batch=50)


# Every failure is tried against a server that offers PIPELINING and one that does not:
# the mailer talks to them differently.
@pytest.fixture(params=[False, True], ids=["one-by-one", "pipelined"])
def pipelining(request):
    return request.param


@pytest.fixture
def smtp_server(pipelining):
    with serving(Inbox(pipelining=pipelining)) as inbox:
        yield inbox


@pytest.fixture
def dropping_server(pipelining):
    with serving(DroppingInbox(drops=1, pipelining=pipelining)) as inbox:
        yield inbox


# ---- temporary failures -----------------------------------------------------------------

def test_temporary_rcpt_failure_is_retried_after_a_minute_and_delivered_once(
        api, launch, dispatcher, smtp_server, frozen):
    smtp_server.rcpt_replies[GRACE] = "451 4.7.1 Greylisted, try again later"
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    summary = dispatcher.run_once()
    assert (summary.sent, summary.retried) == (0, 1)
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "in_progress" and lead["current_step"] == 0
    assert lead["next_send_at"] == iso(MONDAY_10 + dt.timedelta(minutes=1))
    assert "451" in lead["last_error"]
    del smtp_server.rcpt_replies[GRACE]
    frozen.advance(seconds=59)
    assert dispatcher.run_once().sent == 0
    frozen.advance(seconds=1)
    assert dispatcher.run_once().sent == 1
    assert dispatcher.run_once().sent == 0
    assert smtp_server.counts() == {(GRACE, "Hello "): 1}
    assert campaign(api, campaign_id)["stats"]["sent"] == 1
    assert lead_of(api, campaign_id, GRACE)["status"] == "completed"


def test_backoff_grows_with_each_temporary_failure(api, launch, dispatcher, smtp_server,
                                                   frozen):
    smtp_server.rcpt_replies[GRACE] = "452 4.2.2 Mailbox full"
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    waits = []
    for _ in range(3):
        dispatcher.run_once()
        due = lead_of(api, campaign_id, GRACE)["next_send_at"]
        due_at = dt.datetime.fromisoformat(due.removesuffix("Z"))
        waits.append(due_at - frozen.now())
        frozen.freeze(due_at)
    assert waits == [dt.timedelta(minutes=1), dt.timedelta(minutes=5),
                     dt.timedelta(minutes=15)]
    assert smtp_server.messages == []


def test_lead_fails_after_repeated_temporary_failures(api, launch, dispatcher, smtp_server,
                                                      frozen):
    smtp_server.rcpt_replies[GRACE] = "451 4.3.0 Try later"
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    outcomes = []
    for _ in range(6):
        summary = dispatcher.run_once()
        outcomes.append((summary.retried, summary.failed))
        frozen.advance(hours=5)
    assert outcomes == [(1, 0)] * 4 + [(0, 1), (0, 0)]
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "failed" and "451" in lead["last_error"]
    assert campaign(api, campaign_id)["status"] == "completed"


def test_temporary_refusal_of_the_data_is_retried(api, launch, dispatcher, smtp_server, frozen):
    smtp_server.data_reply = "451 4.3.0 Local error in processing"
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    assert dispatcher.run_once().retried == 1
    smtp_server.data_reply = None
    frozen.advance(minutes=1)
    assert dispatcher.run_once().sent == 1
    assert smtp_server.counts() == {(GRACE, "Hello "): 1}
    assert lead_of(api, campaign_id, GRACE)["status"] == "completed"


def test_connection_refused_is_retried(api, app, launch, smtp_server, dispatcher, frozen):
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    closed = dispatcher_on(app, free_port())
    summary = closed.run_once()
    assert (summary.sent, summary.retried) == (0, 1)
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "in_progress"
    assert lead["next_send_at"] == iso(MONDAY_10 + dt.timedelta(minutes=1))
    assert "refused" in lead["last_error"].lower()
    frozen.advance(minutes=1)
    assert dispatcher.run_once().sent == 1
    assert smtp_server.counts() == {(GRACE, "Hello "): 1}
    assert campaign(api, campaign_id)["stats"]["sent"] == 1


def test_connection_dropped_before_the_data_is_retried_and_delivered_once(api, app, launch,
                                                                   dropping_server, frozen):
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    dispatcher = dispatcher_on(app, dropping_server.port)
    summary = dispatcher.run_once()
    assert (summary.sent, summary.retried) == (0, 1)
    assert dropping_server.messages == []
    frozen.advance(minutes=1)
    assert dispatcher.run_once().sent == 1
    assert dispatcher.run_once().sent == 0
    assert dropping_server.counts() == {(GRACE, "Hello "): 1}
    assert campaign(api, campaign_id)["stats"]["sent"] == 1


def test_dropped_connection_does_not_hold_up_the_rest_of_the_batch(app, launch,
                                                                   dropping_server, frozen):
    launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"},
                  {"email": "c@example.com"}], sequence=ONE_STEP)
    summary = dispatcher_on(app, dropping_server.port).run_once()
    assert (summary.sent, summary.retried) == (2, 1)
    assert len(dropping_server.messages) == 2


# ---- permanent failures -----------------------------------------------------------------

def test_permanent_rcpt_failure_marks_the_lead_bounced(api, launch, dispatcher, smtp_server,
                                                       frozen):
    smtp_server.rcpt_replies[GRACE] = "550 5.1.1 User unknown"
    campaign_id = launch(leads=[{"email": GRACE}, {"email": "alan@example.com"}],
                         sequence=TWO_STEPS)
    summary = dispatcher.run_once()
    assert (summary.sent, summary.bounced) == (1, 1)
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "bounced" and lead["next_send_at"] is None
    assert "550" in lead["last_error"]
    stats = campaign(api, campaign_id)["stats"]
    assert (stats["bounced"], stats["sent"]) == (1, 1)
    assert smtp_server.to(GRACE) == []


def test_bounced_lead_gets_no_later_steps(api, launch, dispatcher, smtp_server, frozen):
    smtp_server.rcpt_replies[GRACE] = "550 5.1.1 User unknown"
    campaign_id = launch(leads=[{"email": GRACE}, {"email": "alan@example.com"}],
                         sequence=TWO_STEPS)
    dispatcher.run_once()
    del smtp_server.rcpt_replies[GRACE]
    frozen.advance(days=2)
    assert dispatcher.run_once().sent == 1
    assert smtp_server.to(GRACE) == []
    assert lead_of(api, campaign_id, GRACE)["current_step"] == 0


def test_permanent_refusal_of_the_data_marks_the_lead_bounced(api, launch, dispatcher,
                                                              smtp_server, frozen):
    smtp_server.data_reply = "554 5.7.1 Message rejected"
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    assert dispatcher.run_once().bounced == 1
    assert lead_of(api, campaign_id, GRACE)["status"] == "bounced"
    assert campaign(api, campaign_id)["stats"]["bounced"] == 1


def test_bounced_address_is_suppressed_for_the_workspace(api, launch, create_campaign,
                                                         dispatcher, smtp_server, frozen):
    smtp_server.rcpt_replies[GRACE] = "550 5.1.1 User unknown"
    launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    dispatcher.run_once()
    other = create_campaign(name="Another")["id"]
    data = add_leads(api, other, [{"email": GRACE}, {"email": "alan@example.com"}])
    assert (data["added"], data["suppressed"]) == (1, 1)


def test_bounced_address_is_not_mailed_by_another_campaign_of_the_workspace(
        api, launch, dispatcher, smtp_server, frozen):
    later = launch(leads=[{"email": GRACE}, {"email": "alan@example.com"}],
                   sequence=ONE_STEP, start=False)
    smtp_server.rcpt_replies[GRACE] = "550 5.1.1 User unknown"
    launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    assert dispatcher.run_once().bounced == 1
    del smtp_server.rcpt_replies[GRACE]
    act(api, later, "start")
    assert dispatcher.run_once().sent == 1
    assert smtp_server.to(GRACE) == []
    assert lead_of(api, later, GRACE)["status"] == "bounced"
    assert [m["To"].addresses[0].addr_spec for m in smtp_server.parsed()] == ["alan@example.com"]


def test_sender_address_that_cannot_be_mailed_fails_its_leads_without_stopping_the_pass(
        api, launch, dispatcher, smtp_server, frozen):
    # The API refuses such a sender now; a row written before that rule still must not
    # stop the dispatcher.
    broken = launch(leads=[{"email": GRACE}, {"email": "alan@example.com"}], sequence=ONE_STEP)
    with database.connection():
        row = Campaign.get_by_id(broken)
        Campaign.update(settings={**row.settings, "from_email": "adä@acme.test"}).where(
            Campaign.id == broken).execute()
    fine = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    summary = dispatcher.run_once()
    assert (summary.sent, summary.failed) == (1, 2)
    assert smtp_server.counts() == {(GRACE, "Hello "): 1}
    lead = lead_of(api, broken, GRACE)
    assert lead["status"] == "failed" and "adä@acme.test" in lead["last_error"]
    assert campaign(api, broken)["status"] == "completed"
    assert campaign(api, fine)["stats"]["sent"] == 1


def test_template_that_fails_for_one_lead_fails_that_lead_alone(api, launch, dispatcher,
                                                               smtp_server, frozen):
    campaign_id = launch(leads=[{"email": GRACE, "custom_fields": {"plan": "pro"}},
                                {"email": "alan@example.com"}],
                         sequence=[{"subject": "Your plan", "body": "Plan {{ plan.upper() }}"}])
    summary = dispatcher.run_once()
    assert (summary.sent, summary.failed) == (1, 1)
    assert [m["To"].addresses[0].addr_spec for m in smtp_server.parsed()] == [GRACE]
    lead = lead_of(api, campaign_id, "alan@example.com")
    assert lead["status"] == "failed" and "plan" in lead["last_error"]
    assert campaign(api, campaign_id)["status"] == "completed"


def test_one_pass_sends_every_due_mail_even_after_a_batch_of_suppressed_leads(
        api, app, launch, smtp_server, frozen):
    later = launch(leads=[{"email": GRACE}], sequence=ONE_STEP, start=False)
    smtp_server.rcpt_replies[GRACE] = "550 5.1.1 User unknown"
    launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    single = Dispatcher(mailer=SMTPMailer(host="127.0.0.1", port=smtp_server.port, timeout=5),
                        composer=Composer(base_url=app.config["BASE_URL"],
                                          secret=app.config["SECRET_KEY"]),
                        batch=1)
    assert single.run_once().bounced == 1
    add_leads(api, later, [{"email": "alan@example.com"}])
    act(api, later, "start")
    assert single.run_once().sent == 1
    assert lead_of(api, later, "alan@example.com")["status"] == "completed"


def assert_stopped(api, smtp_server, campaign_id, summary, *, sent, given_back):
    """``sent`` mails went out and are recorded sent; ``given_back`` leads are due again."""
    assert (summary.sent, summary.released) == (sent, given_back)
    assert len(smtp_server.messages) == sent
    with database.connection():
        assert Message.select().where(Message.status != "sent").count() == 0
    due = [lead for lead in leads_of(api, campaign_id) if lead["next_send_at"] is not None]
    assert len(due) == given_back


def test_stopping_mid_batch_finishes_the_mail_in_flight_and_gives_the_rest_back(
        api, launch, dispatcher, smtp_server, frozen):
    leads = [{"email": f"lead{i}@example.com"} for i in range(4)]
    campaign_id = launch(leads=leads, sequence=ONE_STEP)
    # SIGTERM's handler calls stop(); here the server calls it while the first mail is
    # inside its DATA.
    smtp_server.on_data = lambda envelope: dispatcher.stop()

    first = dispatcher.run_once()

    assert_stopped(api, smtp_server, campaign_id, first, sent=1, given_back=3)

    smtp_server.on_data = None
    dispatcher.stopping.clear()
    second = dispatcher.run_once()

    assert second.sent == 3
    assert sorted(smtp_server.counts().values()) == [1, 1, 1, 1]


def test_stop_after_the_next_mail_was_marked_sending_sends_it_and_gives_the_rest_back(
        api, launch, dispatcher, smtp_server, frozen):
    leads = [{"email": f"lead{i}@example.com"} for i in range(4)]
    campaign_id = launch(leads=leads, sequence=ONE_STEP)
    # The second mail went to `sending` in the commit that recorded the first as sent;
    # the stop comes after that commit, as its SMTP session is looked up.
    for_claim, calls = dispatcher.transports.for_claim, []

    def for_claim_then_stop(claim):
        calls.append(1)
        if len(calls) == 2:
            dispatcher.stop()
        return for_claim(claim)

    dispatcher.transports.for_claim = for_claim_then_stop

    summary = dispatcher.run_once()

    assert_stopped(api, smtp_server, campaign_id, summary, sent=2, given_back=2)
