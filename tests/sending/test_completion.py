"""An active campaign whose every lead has reached an end state becomes completed, once,
with a "complete" event in its log."""
import datetime as dt
import threading
import time

import pytest

from app import clock, database
from app.lifecycle import LeadStatus
from app.models import Lead
from app.services import outcomes
from tests.conftest import ON_POSTGRES
from tests.sending.conftest import BASE, MONDAY_10, act, campaign, events_of, iso, lead_of

BASE_URL = "http://127.0.0.1:8000"  # TestConfig's BASE_URL

ONE_STEP = [{"subject": "Hello {{firstName}}", "body": "Hi"}]
TWO_STEPS = [ONE_STEP[0], {"subject": "", "body": "Again", "delay": 1, "delay_unit": "days"}]
COMPLETE = ("complete", "active", "completed")


def test_campaign_completes_when_every_lead_finished_its_sequence(api, launch, dispatcher,
                                                                 frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=TWO_STEPS)
    dispatcher.run_once()
    frozen.advance(days=1)
    dispatcher.run_once()
    detail = campaign(api, campaign_id)
    assert detail["status"] == "completed"
    assert detail["completed_at"] == iso(MONDAY_10 + dt.timedelta(days=1))
    assert detail["allowed_actions"] == []
    assert events_of(campaign_id)[-1] == COMPLETE
    assert {lead_of(api, campaign_id, e)["status"] for e in ("a@example.com",
                                                             "b@example.com")} == {"completed"}


def test_campaign_stays_active_while_a_lead_has_steps_left(api, launch, dispatcher, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=TWO_STEPS)
    dispatcher.run_once()
    detail = campaign(api, campaign_id)
    assert detail["status"] == "active" and detail["completed_at"] is None
    assert COMPLETE not in events_of(campaign_id)


def test_campaign_completes_when_its_last_open_lead_bounces(api, launch, dispatcher,
                                                            smtp_server, frozen):
    smtp_server.rcpt_replies["bad@example.com"] = "550 5.1.1 User unknown"
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "bad@example.com"}],
                         sequence=ONE_STEP)
    dispatcher.run_once()
    assert campaign(api, campaign_id)["status"] == "completed"
    assert lead_of(api, campaign_id, "bad@example.com")["status"] == "bounced"
    assert events_of(campaign_id)[-1] == COMPLETE


def test_campaign_completes_when_its_last_open_lead_is_deleted(api, launch, dispatcher,
                                                               smtp_server, frozen):
    smtp_server.rcpt_replies["slow@example.com"] = "451 4.7.1 Try again later"
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "slow@example.com"}],
                         sequence=ONE_STEP)
    dispatcher.run_once()
    assert campaign(api, campaign_id)["status"] == "active"
    lead_id = lead_of(api, campaign_id, "slow@example.com")["id"]
    assert api.delete(f"{BASE}/{campaign_id}/leads/{lead_id}").status_code == 200
    assert campaign(api, campaign_id)["status"] == "completed"
    assert events_of(campaign_id)[-1] == COMPLETE


def test_completion_is_recorded_once(api, launch, dispatcher, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=ONE_STEP)
    dispatcher.run_once()
    frozen.advance(days=1)
    dispatcher.run_once()
    assert events_of(campaign_id) == [("start", "draft", "active"), COMPLETE]


def test_paused_campaign_whose_leads_all_ended_stays_paused(api, client, launch, dispatcher,
                                                           smtp_server, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=TWO_STEPS)
    dispatcher.run_once()
    act(api, campaign_id, "pause")
    unsubscribe = smtp_server.parsed()[0]["List-Unsubscribe"].strip("<>")
    assert client.post(unsubscribe.removeprefix(BASE_URL)).status_code == 200
    assert campaign(api, campaign_id)["status"] == "paused"
    assert COMPLETE not in events_of(campaign_id)


def test_campaign_resumed_after_every_lead_ended_completes(api, client, launch, dispatcher,
                                                          smtp_server, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=TWO_STEPS)
    dispatcher.run_once()
    act(api, campaign_id, "pause")
    unsubscribe = smtp_server.parsed()[0]["List-Unsubscribe"].strip("<>")
    assert client.post(unsubscribe.removeprefix(BASE_URL)).status_code == 200
    act(api, campaign_id, "resume")
    frozen.advance(days=2)
    dispatcher.run_once()
    assert campaign(api, campaign_id)["status"] == "completed"
    assert events_of(campaign_id)[-1] == COMPLETE


# ---- two leads ending at once ----------------------------------------------------------

@pytest.mark.skipif(not ON_POSTGRES, reason="two writers at once need Postgres "
                    "(SQLite serialises them)")
def test_the_last_two_leads_ending_at_once_still_complete_the_campaign(api, launch, app):
    """Two transactions each end one of the last two open leads. Without the campaign's
    row lock each check would see the other's lead still open (it is not committed)
    and neither would complete the campaign."""
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=ONE_STEP)
    with database.connection():
        first, second = Lead.select().where(Lead.campaign == campaign_id).order_by(Lead.email)
    first_checked, second_started = threading.Event(), threading.Event()
    errors = []

    def end(lead, *, before_check=None, after_check=None, hold=0.0):
        try:
            with database.connection(), database.transaction():
                now = clock.now()
                assert outcomes.finish(lead, LeadStatus.FAILED, now)
                if before_check:
                    assert before_check.wait(5)
                outcomes.maybe_complete(lead.campaign_id, now)
                if after_check:
                    after_check.set()
                time.sleep(hold)  # the second check runs now, before this commit
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    one = threading.Thread(target=end, args=(first,),
                           kwargs={"before_check": second_started, "after_check": first_checked,
                                   "hold": 0.5})
    two = threading.Thread(target=lambda: (second_started.set(), end(second,
                                                                   before_check=first_checked)))
    one.start()
    two.start()
    one.join(10)
    two.join(10)

    assert not errors, errors
    assert campaign(api, campaign_id)["status"] == "completed"
    assert events_of(campaign_id).count(COMPLETE) == 1


@pytest.mark.skipif(not ON_POSTGRES, reason="two writers at once need Postgres "
                    "(SQLite serialises them)")
def test_a_send_ending_the_last_lead_while_another_ends_still_completes(api, launch,
                                                                       dispatcher):
    """The dispatcher records its mail (the lead's last step) while another transaction
    has just ended the campaign's other lead and holds the campaign's row lock, its own
    check having seen the dispatcher's lead still open. The send's completion check
    must run after that commit, with a snapshot that sees it."""
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=ONE_STEP)
    dispatcher.batch = 1  # one lead per claim: the other stays open meanwhile
    checked, errors = threading.Event(), []

    def end_the_other(recipient):
        try:
            with database.connection(), database.transaction():
                other = Lead.get((Lead.campaign == campaign_id) & (Lead.email != recipient))
                now = clock.now()
                assert outcomes.finish(other, LeadStatus.FAILED, now)
                # Sees the dispatcher's lead open: its mail is not recorded yet.
                assert not outcomes.maybe_complete(campaign_id, now)
                checked.set()
                time.sleep(0.5)  # the dispatcher records its mail now, and waits
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
            checked.set()

    send = dispatcher.mailer.send
    other = []

    def send_then_end_the_other(message, *, sender, recipient):
        send(message, sender=sender, recipient=recipient)
        if not other:
            other.append(threading.Thread(target=end_the_other, args=(recipient,)))
            other[0].start()
            assert checked.wait(5)

    dispatcher.mailer.send = send_then_end_the_other
    assert dispatcher.run_once().sent == 1
    other[0].join(10)

    assert not errors, errors
    assert campaign(api, campaign_id)["status"] == "completed"
    assert events_of(campaign_id).count(COMPLETE) == 1

