"""Room a mailbox gets back today is room for every campaign sending from it: a
campaign stamped at the mailbox's midnight because it was at its cap comes back to now
when another campaign's mail from it stops counting."""
import datetime as dt

from app import database
from app.worker.loop import Summary
from tests.conftest import BASE as CAMPAIGNS
from tests.mailboxes.conftest import leads
from tests.scheduling.mailboxes.test_stamps import stamp_of

ADA_MIDNIGHT = dt.datetime(2026, 12, 1, 0, 0)  # Monday 10:00 UTC's next local day


def test_a_temporary_failure_frees_the_mailbox_for_the_other_campaigns(
        mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", daily_limit=1)
    first = start([ada], leads=leads(1, "first"))
    second = start([ada], leads=leads(1, "second"))
    smtp_server.handler.rcpt_replies["first0@example.com"] = "451 4.7.1 try again later"
    with database.connection():
        batch = dispatcher.claim(first, frozen.now())  # Ada's one mail today
        assert len(batch.claims) == 1
        assert dispatcher.claim(second, frozen.now()).claims == []
        assert stamp_of(second) == ADA_MIDNIGHT
        summary = Summary()
        try:
            dispatcher.deliver_all(batch.claims, summary)  # ... given back: 451
        finally:
            dispatcher.transports.close()
        assert summary.retried == 1
    assert stamp_of(second) <= frozen.now()
    assert dispatcher.run_once().sent == 1


def test_deleting_a_lead_mailed_today_frees_the_mailbox_for_the_other_campaigns(
        api, mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", daily_limit=1)
    first = start([ada], leads=leads(1, "first"))
    assert dispatcher.run_once().sent == 1
    second = start([ada], leads=leads(1, "second"))
    assert dispatcher.run_once().sent == 0
    assert stamp_of(second) == ADA_MIDNIGHT

    [lead] = api.get(f"{CAMPAIGNS}/{first}/leads").json["data"]
    assert api.delete(f"{CAMPAIGNS}/{first}/leads/{lead['id']}").status_code == 200
    assert api.get(f"/api/v1/tenant/mailboxes/{ada}").json["data"]["sent_today"] == 0
    assert stamp_of(second) <= frozen.now()
    assert dispatcher.run_once().sent == 1


def _claimed_for_the_first(dispatcher, first, second, frozen):
    """Ada's one mail today claimed for ``first``: ``second`` waits for her midnight."""
    batch = dispatcher.claim(first, frozen.now())
    assert len(batch.claims) == 1
    assert dispatcher.claim(second, frozen.now()).claims == []
    assert stamp_of(second) == ADA_MIDNIGHT
    return batch


def test_a_claim_given_back_frees_the_mailbox_for_the_other_campaigns(
        mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", daily_limit=1)
    first = start([ada], leads=leads(1, "first"))
    second = start([ada], leads=leads(1, "second"))
    with database.connection():
        [claim] = _claimed_for_the_first(dispatcher, first, second, frozen).claims
        dispatcher.release(claim)  # never attempted: its row goes
    assert stamp_of(second) <= frozen.now()


def test_a_reaped_claim_frees_the_mailbox_for_the_other_campaigns(
        mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", daily_limit=1)
    first = start([ada], leads=leads(1, "first"))
    second = start([ada], leads=leads(1, "second"))
    with database.connection():
        _claimed_for_the_first(dispatcher, first, second, frozen)
    frozen.advance(seconds=dispatcher.claim_seconds + 1)  # the dispatcher died holding it
    with database.connection():
        dispatcher.reap()
    assert stamp_of(second) <= frozen.now()
