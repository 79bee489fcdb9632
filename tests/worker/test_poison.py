"""Poison data fails its own lead, nothing else: whatever one message cannot be composed
or sent with (a line separator in a header, a lone surrogate, an address the email
package refuses) ends that lead ``failed`` with the reason, and the pass goes on with
the next claim and the next campaign. No row is left in flight, and no lead is
``completed`` without its mail.

The poison is written straight into the database: the API refuses some of it.
"""
import pytest

from app import database
from app.lifecycle import LeadStatus, MessageStatus
from app.models import Campaign, Lead, Message

SEQUENCE = [{"subject": "Hello {{firstName}}{{ nick | default('') }}",
             "body": "Hi {{firstName}}, {{ nick | default('friend') }}"}]
GOOD = ["ada@example.com", "bea@example.com", "cy@example.com"]
POISONED = "poison@example.com"

POISONS = {
    "line-separator-in-subject": {"first_name": "Eve\u2028Bcc: all@example.com"},
    "next-line-in-subject": {"first_name": "Eve\x85Bcc: all@example.com"},
    "vertical-tab-in-subject": {"first_name": "Eve\x0bX"},
    "carriage-return-in-subject": {"first_name": "Eve\r\nBcc: all@example.com"},
    "lone-surrogate-in-a-variable": {"custom_fields": {"nick": "\ud800"}},
    "address-the-email-package-refuses": {"email": '"poison\u2028"@example.com'},
    "address-with-a-bracket": {"email": "poison>@example.com"},
}


def poison(campaign_id, changes):
    with database.connection():
        assert Lead.update(changes).where((Lead.campaign == campaign_id)
                                          & (Lead.email == POISONED)).execute() == 1


def in_flight():
    with database.connection():
        return list(Message.select(Message.id, Message.status).where(
            Message.status.in_((MessageStatus.CLAIMED, MessageStatus.SENDING))).tuples())


@pytest.mark.parametrize("changes", list(POISONS.values()), ids=list(POISONS))
def test_a_poisoned_lead_fails_alone_and_the_pass_goes_on(launch, dispatcher, smtp_server,
                                                          frozen, changes):
    first = launch(leads=[{"email": e, "first_name": "Ann"} for e in [*GOOD[:2], POISONED]],
                   sequence=SEQUENCE)
    second = launch(leads=[{"email": GOOD[2], "first_name": "Cy"}], sequence=SEQUENCE)
    poison(first, changes)

    summary = dispatcher.run_once()

    assert sorted(r for m in smtp_server.messages for r in m["to"]) == sorted(GOOD)
    assert (summary.sent, summary.failed) == (3, 1)
    with database.connection():
        bad = Lead.get((Lead.campaign == first) & (Lead.id.in_(
            Lead.select(Lead.id).where(Lead.email.not_in(GOOD)))))
        assert bad.status == LeadStatus.FAILED
        assert bad.last_error and bad.finished_at is not None
        [message] = Message.select().where(Message.lead == bad.id)
        assert message.status == MessageStatus.FAILED and message.error == bad.last_error
        good = Lead.select().where(Lead.email.in_(GOOD))
        assert {lead.status for lead in good} == {LeadStatus.COMPLETED}
        # Every lead ended, the failed one too: both campaigns are done.
        assert {Campaign.get_by_id(c).status for c in (first, second)} == {"completed"}
    assert in_flight() == []


def test_a_poisoned_lead_is_never_completed_later(launch, dispatcher, smtp_server, frozen):
    """The reaper, long after, finds nothing to turn into a 'completed' lead."""
    campaign_id = launch(leads=[{"email": GOOD[0]}, {"email": POISONED}], sequence=SEQUENCE)
    poison(campaign_id, POISONS["line-separator-in-subject"])
    dispatcher.run_once()

    frozen.advance(hours=1)
    dispatcher.run_once()

    with database.connection():
        bad = Lead.get(Lead.email == POISONED)
        assert bad.status == LeadStatus.FAILED
        assert bad.last_error.startswith("cannot compose the message: ValueError: ")
    assert [r for m in smtp_server.messages for r in m["to"]] == [GOOD[0]]


def test_a_campaign_whose_settings_break_the_claim_holds_up_no_other(launch, dispatcher,
                                                                   smtp_server, frozen):
    broken = launch(leads=[{"email": POISONED}], sequence=SEQUENCE)
    fine = launch(leads=[{"email": GOOD[0]}], sequence=SEQUENCE)
    with database.connection():
        campaign = Campaign.get_by_id(broken)
        Campaign.update(settings={**campaign.settings, "timezone": "Nowhere/Atlantis"}).where(
            Campaign.id == broken).execute()

    summary = dispatcher.run_once()

    assert summary.sent == 1
    assert [r for m in smtp_server.messages for r in m["to"]] == [GOOD[0]]
    with database.connection():
        assert Lead.get(Lead.campaign == fine).status == LeadStatus.COMPLETED
        # Never claimed: still due, for when its settings are mended.
        assert Lead.get(Lead.campaign == broken).status == LeadStatus.PENDING
    assert in_flight() == []

