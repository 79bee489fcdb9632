"""Row locks taken in one order on every path: the lead's messages, the lead, then its
campaign.

An open, a click or a reply locks the lead, then its campaign's counter. A send and a
claim touch the same two rows; taken the other way round, each transaction would hold
what the other waits for, and Postgres would abort one of them (a lost open, a send
recorded as unconfirmed). Each test holds a lead the way an open does and runs the
dispatcher meanwhile.
"""
import threading
import time

import pytest

from app import database
from app.models import Lead, Message
from app.services import outcomes
from tests.conftest import ON_POSTGRES
from tests.sending.conftest import campaign

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="row locks are Postgres' "
                                "(SQLite serialises writers)")

TWO_STEPS = [{"subject": "Hello {{firstName}}", "body": "Hi"},
             {"subject": "", "body": "Again", "delay": 1, "delay_unit": "days"}]


class Opening:
    """An open of one lead in another thread: it locks the lead, waits ``hold`` seconds
    (the dispatcher runs meanwhile), then counts the open on the campaign."""

    def __init__(self, monkeypatch, now, hold=0.5, *, at_campaign=None):
        self.now, self.errors, self.locked = now, [], threading.Event()
        self.thread = None
        bump = outcomes.bump

        def slow_bump(campaign_id, *args, **kwargs):
            # Called once the lead's opened_at is set: its row lock is held. With
            # ``at_campaign``, at that campaign's counter only.
            if (threading.current_thread().name == "open"
                    and at_campaign in (None, campaign_id)):
                self.locked.set()
                time.sleep(hold)
            return bump(campaign_id, *args, **kwargs)

        monkeypatch.setattr(outcomes, "bump", slow_bump)

    def start(self, *args):
        self.thread = threading.Thread(target=self._run, args=args, name="open")
        self.thread.start()
        assert self.locked.wait(5)

    def _run(self, *args):
        try:
            with database.connection(), database.transaction():
                self.record(*args)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)
            self.locked.set()

    def record(self, email):
        outcomes.record_open(Lead.get(Lead.email == email), self.now)

    def join(self):
        self.thread.join(10)
        assert not self.errors, self.errors


def test_the_send_of_a_leads_next_step_during_its_open(api, launch, dispatcher, frozen,
                                                       monkeypatch):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 1
    frozen.advance(days=1)
    opening = Opening(monkeypatch, frozen.now())
    send = dispatcher.mailer.send

    def send_while_opening(message, *, sender, recipient):
        send(message, sender=sender, recipient=recipient)
        opening.start(recipient)  # the mail is out; its record comes next

    dispatcher.mailer.send = send_while_opening
    assert dispatcher.run_once().sent == 1
    opening.join()
    detail = campaign(api, campaign_id)
    assert (detail["stats"]["sent"], detail["stats"]["opened"]) == (2, 1)
    assert detail["status"] == "completed"


def test_a_claim_during_an_open_of_a_due_lead_passes_that_lead_by(api, launch, dispatcher,
                                                                   frozen, monkeypatch):
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 2
    frozen.advance(days=1)
    opening = Opening(monkeypatch, frozen.now())
    opening.start("a@example.com")
    # The claim holds the campaign; it takes b and leaves a, whose row the open holds.
    assert dispatcher.run_once().sent == 1
    opening.join()
    assert dispatcher.run_once().sent == 1  # a, once the open is recorded
    detail = campaign(api, campaign_id)
    assert (detail["stats"]["sent"], detail["stats"]["opened"]) == (4, 1)
    assert detail["status"] == "completed"


def test_a_lead_deleted_during_its_open(api, launch, dispatcher, frozen, monkeypatch):
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 2
    with database.connection():
        lead_id = Lead.get(Lead.email == "a@example.com").id
    opening = Opening(monkeypatch, frozen.now())
    opening.start("a@example.com")
    # Waits for the open's commit, then deletes.
    response = api.delete(f"/api/v1/tenant/campaigns/{campaign_id}/leads/{lead_id}")
    opening.join()
    assert response.status_code == 200, response.json
    assert campaign(api, campaign_id)["stats"]["opened"] == 1


def test_the_reaper_during_an_open_of_the_lead_it_moves_on(api, launch, dispatcher, frozen,
                                                          monkeypatch):
    """A dispatcher died inside the SMTP transaction of a lead's last step; the reaper
    marks that mail unconfirmed and completes the lead while an open of the lead's first
    mail is being recorded."""
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 1
    frozen.advance(days=1)
    with database.connection():
        [claim] = dispatcher.claim(campaign_id, frozen.now()).claims
        assert dispatcher.start(claim)  # sending, and then nothing: the process died
    frozen.advance(seconds=dispatcher.sending_seconds + 1)
    opening = Opening(monkeypatch, frozen.now())
    opening.start("a@example.com")
    with database.connection():
        dispatcher.reap()
    opening.join()
    detail = campaign(api, campaign_id)
    assert detail["stats"]["opened"] == 1
    assert detail["status"] == "completed"


def test_a_lead_deleted_while_its_mail_is_recorded(api, launch, dispatcher, frozen):
    """The record of a sent mail locks its message row, then the lead. A deletion of that
    lead takes the message rows first too: it waits, instead of holding the lead the
    record wants next (Postgres would then abort one of the two)."""
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 2
    url = f"/api/v1/tenant/campaigns/{campaign_id}/leads"
    answers = []
    with database.connection():
        lead_id = Lead.get(Lead.email == "a@example.com").id
        with database.transaction():
            # The record, halfway: its message row is locked, the lead comes next.
            Message.update(subject="Hello").where(Message.lead == lead_id).execute()
            deleting = threading.Thread(
                target=lambda: answers.append(api.delete(f"{url}/{lead_id}")))
            deleting.start()
            _wait_for_a_lock_wait()
            Lead.update(current_step=1).where(Lead.id == lead_id).execute()
        deleting.join(10)
    assert answers[0].status_code == 200, answers[0].json
    assert [lead["email"] for lead in api.get(url).json["data"]] == ["b@example.com"]


def _wait_for_a_lock_wait(timeout=5.0):
    """Until another connection waits for a row lock (the deletion, blocked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # pg_locks, not pg_stat_activity: that one is read once per transaction.
        waiting = database.db.execute_sql(
            "SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError("the deletion never waited for a lock")


def test_a_paused_campaign_deleted_during_an_open(api, launch, dispatcher, frozen,
                                                  monkeypatch):
    """Opens keep arriving after a pause. The deletion takes the campaign's messages and
    leads before the campaign itself, so it waits for the open's commit."""
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 2
    url = f"/api/v1/tenant/campaigns/{campaign_id}"
    assert api.post(f"{url}/send", json={"action": "pause"}).status_code == 200
    opening = Opening(monkeypatch, frozen.now())
    opening.start("a@example.com")
    response = api.delete(url)
    opening.join()
    assert response.status_code == 200, response.json
    assert api.get(url).status_code == 404


def test_a_campaign_resumed_while_its_deletion_takes_its_rows_is_kept(api, launch,
                                                                      monkeypatch):
    """The deletion checks the campaign before taking its rows, and again once it holds
    the campaign: a resume that commits in between wins, and the deletion is a 409."""
    from app.services import campaigns as service
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=TWO_STEPS)
    url = f"/api/v1/tenant/campaigns/{campaign_id}"
    assert api.post(f"{url}/send", json={"action": "pause"}).status_code == 200
    lock_rows, resumed = service.lock_rows, []

    def resume_first(query):
        # Once, before the deletion's first lock (the resume calls this too).
        if threading.current_thread().name != "resume" and not resumed:
            resuming = threading.Thread(name="resume", target=lambda: resumed.append(
                api.post(f"{url}/send", json={"action": "resume"})))
            resuming.start()
            resuming.join(10)
        return lock_rows(query)

    monkeypatch.setattr(service, "lock_rows", resume_first)
    response = api.delete(url)
    assert resumed[0].status_code == 200, resumed[0].json
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "campaign_active"
    assert api.get(url).json["data"]["status"] == "active"


class Unsubscribing(Opening):
    """An unsubscribe through one campaign's link, in another thread: it ends the
    address's leads and, before counting one on ``at_campaign``, waits ``hold`` seconds
    (holding that lead, and the counters of the campaigns before it)."""

    def record(self, email, campaign_id):
        unsubscribe_through(email, campaign_id, self.now)


def unsubscribe_through(email, campaign_id, now):
    """An unsubscribe through the link in the mail of ``email``'s lead in the campaign."""
    lead = Lead.get((Lead.email == email) & (Lead.campaign == campaign_id))
    outcomes.record_unsubscribe(lead, now)


def test_a_start_during_an_unsubscribe_through_another_campaigns_link(
        api, launch, dispatcher, frozen, monkeypatch):
    """The unsubscribe ends the address's pending lead in a draft, then counts it there;
    starting that draft meanwhile waits for it."""
    mailed = launch(leads=[{"email": "a@example.com"}], sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 1
    draft = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                   sequence=TWO_STEPS, start=False)
    unsubscribing = Unsubscribing(monkeypatch, frozen.now(), at_campaign=draft)
    unsubscribing.start("a@example.com", mailed)
    response = api.post(f"/api/v1/tenant/campaigns/{draft}/send", json={"action": "start"})
    unsubscribing.join()
    assert response.status_code == 200, response.json
    assert campaign(api, draft)["stats"]["unsubscribed"] == 1
    assert campaign(api, mailed)["stats"]["unsubscribed"] == 1


def test_two_addresses_unsubscribed_at_once_from_the_same_two_campaigns(
        api, launch, dispatcher, frozen, monkeypatch):
    """Each unsubscribe counts its address on both campaigns; both take the campaigns
    in one order, so the second waits for the first instead of holding the campaign
    the first wants next."""
    both = [{"email": "a@example.com"}, {"email": "b@example.com"}]
    low, high = sorted(launch(leads=both, sequence=TWO_STEPS) for _ in range(2))
    assert dispatcher.run_once().sent == 4
    # a, through the first campaign's link: it counts a there, then waits before the
    # second campaign's counter.
    unsubscribing = Unsubscribing(monkeypatch, frozen.now(), at_campaign=high)
    unsubscribing.start("a@example.com", low)
    errors = []

    def b_through_the_second_link():
        try:
            with database.connection(), database.transaction():
                unsubscribe_through("b@example.com", high, frozen.now())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    other = threading.Thread(target=b_through_the_second_link)
    other.start()
    other.join(10)
    unsubscribing.join()
    assert not errors, errors
    for campaign_id in (low, high):
        assert campaign(api, campaign_id)["stats"]["unsubscribed"] == 2
