"""What a sent mail costs the database: one commit, shared by its ``sent`` record and the
next claim's ``claimed -> sending``; and the completion check that rides along.

A commit is a transaction, or a write outside one (the connection is in autocommit mode).
"""
from contextlib import contextmanager

import pytest

from app import database
from app.models import Campaign, Lead
from app.services import outcomes
from tests.sending.conftest import campaign

ONE_STEP = [{"subject": "Hello {{firstName}}", "body": "Hi"}]
TWO_STEPS = [ONE_STEP[0], {"subject": "", "body": "Again", "delay": 1, "delay_unit": "days"}]


@contextmanager
def counting_commits():
    db = database.db.obj
    count = {"commits": 0}
    execute_sql, commit = db.execute_sql, db.commit

    def counted_execute(sql, params=None):
        if not db.in_transaction() and not sql.lstrip().upper().startswith("SELECT"):
            count["commits"] += 1
        return execute_sql(sql, params)

    def counted_commit():
        count["commits"] += 1
        return commit()

    db.execute_sql, db.commit = counted_execute, counted_commit
    try:
        yield count
    finally:
        del db.execute_sql, db.commit  # the class's own methods again


def commits_to_send(launch, dispatcher, *, leads, sequence):
    launch(leads=[{"email": f"lead{i}@example.com"} for i in range(leads)], sequence=sequence)
    with counting_commits() as count:
        assert dispatcher.run_once().sent == leads
    return count["commits"]


@pytest.mark.parametrize("sequence", [ONE_STEP, TWO_STEPS],
                         ids=["last-step-completes-the-lead", "more-steps-to-come"])
def test_each_further_mail_of_a_batch_costs_one_commit(launch, dispatcher, smtp_server,
                                                      frozen, sequence):
    three = commits_to_send(launch, dispatcher, leads=3, sequence=sequence)
    seven = commits_to_send(launch, dispatcher, leads=7, sequence=sequence)
    assert seven - three == 4


def test_completion_check_with_an_open_lead_named_changes_nothing(api, launch, dispatcher,
                                                                 frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=ONE_STEP)
    with database.connection():
        first, second = Lead.select().where(Lead.campaign == campaign_id).order_by(Lead.id)
        outcomes.finish(first, "completed", frozen.now())
        # The lead named is open: not complete (and the campaign is not).
        assert not outcomes.maybe_complete(campaign_id, unless_open=second.id)
        # The lead named has ended, another is open: not complete either.
        assert not outcomes.maybe_complete(campaign_id, unless_open=first.id)
        outcomes.finish(second, "completed", frozen.now())
        # Every lead has ended: complete, whichever lead is named.
        assert outcomes.maybe_complete(campaign_id, unless_open=second.id)
        assert Campaign.get_by_id(campaign_id).status == "completed"
    assert campaign(api, campaign_id)["status"] == "completed"


def test_completion_check_ignores_an_open_lead_of_another_campaign(api, launch, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=ONE_STEP)
    other_id = launch(leads=[{"email": "b@example.com"}], sequence=ONE_STEP)
    with database.connection():
        (lead,) = Lead.select().where(Lead.campaign == campaign_id)
        (elsewhere,) = Lead.select().where(Lead.campaign == other_id)
        outcomes.finish(lead, "completed", frozen.now())
        # The lead named is open, but it is not this campaign's: this one is complete.
        assert outcomes.maybe_complete(campaign_id, unless_open=elsewhere.id)
        assert Campaign.get_by_id(campaign_id).status == "completed"
        assert Campaign.get_by_id(other_id).status == "active"
