"""The campaign's state machine, its scheduling and completion, through the services
and app.lifecycle alone (no HTTP)."""
import datetime as dt

import pytest

from app import clock, database, lifecycle
from app.errors import Conflict
from app.lifecycle import CampaignStatus, LeadStatus, MessageStatus
from app.models import Campaign, CampaignEvent, Lead, Message
from app.services import campaigns, leads, outcomes

MONDAY_10 = dt.datetime(2025, 11, 3, 10, 0)
STEP = {"subject": "Hello", "body": "Hi", "delay": 2, "delay_unit": "hours"}


@pytest.fixture
def now():
    clock.freeze(MONDAY_10)
    return MONDAY_10


@pytest.fixture
def draft(app, tenant):
    """A draft campaign with a sequence and a sender, and no leads."""
    campaign = campaigns.create_campaign(tenant.model, workspace_slug=tenant.slug, name="Q4")
    campaigns.update_campaign(tenant.model, campaign.id, changes={
        "sequence": [STEP], "settings": {"from_email": "ada@acme.test"}})
    return campaign.id


def act(tenant, campaign_id, action):
    return campaigns.apply_action(tenant.model, campaign_id, action=action)


def add(tenant, campaign_id, *emails):
    return leads.add_leads(tenant.model, campaign_id,
                           leads=[{"email": email} for email in emails])


def events(campaign_id):
    return [(e.action, e.from_status, e.to_status) for e in
            CampaignEvent.select().where(CampaignEvent.campaign == campaign_id)
            .order_by(CampaignEvent.created_at, CampaignEvent.id)]


def test_statuses_compare_equal_to_the_stored_strings():
    assert CampaignStatus.ACTIVE == "active"
    assert LeadStatus.IN_PROGRESS == "in_progress"
    assert MessageStatus.UNCONFIRMED == "unconfirmed"
    assert [str(s) for s in CampaignStatus] == ["draft", "active", "paused", "completed"]


def test_the_models_defaults_are_the_lifecycles_first_states():
    assert Campaign.status.default == CampaignStatus.DRAFT
    assert Lead.status.default == LeadStatus.PENDING
    assert Message.status.default == MessageStatus.CLAIMED


def test_start_pause_resume_move_the_campaign_and_log_each_move(tenant, draft, now):
    add(tenant, draft, "a@example.com")

    started, changed = act(tenant, draft, "start")
    assert changed and started.status == CampaignStatus.ACTIVE
    assert started.launched_at == now
    assert act(tenant, draft, "pause")[0].status == CampaignStatus.PAUSED
    assert act(tenant, draft, "resume")[0].status == CampaignStatus.ACTIVE

    assert events(draft) == [("start", "draft", "active"), ("pause", "active", "paused"),
                             ("resume", "paused", "active")]
    assert Campaign.get_by_id(draft).version == 5  # the PATCH, then three moves


def test_repeating_an_action_changes_nothing(tenant, draft, now):
    add(tenant, draft, "a@example.com")
    act(tenant, draft, "start")
    version = Campaign.get_by_id(draft).version

    campaign, changed = act(tenant, draft, "start")

    assert not changed and campaign.version == version
    assert len(events(draft)) == 1


def test_resume_on_a_draft_is_refused_with_the_reason(tenant, draft):
    with pytest.raises(Conflict) as refused:
        act(tenant, draft, "resume")
    assert refused.value.code == "invalid_transition"
    assert "use 'start'" in refused.value.message
    assert Campaign.get_by_id(draft).status == CampaignStatus.DRAFT
    assert events(draft) == []


def test_start_without_leads_is_blocked(tenant, draft):
    with pytest.raises(Conflict) as refused:
        act(tenant, draft, "start")
    assert refused.value.code == "start_blocked"
    assert refused.value.details["missing"] == ["no_leads"]
    assert Campaign.get_by_id(draft).status == CampaignStatus.DRAFT


def test_start_makes_the_pending_leads_due_after_the_first_steps_delay(tenant, draft, now):
    add(tenant, draft, "a@example.com", "b@example.com")
    assert {lead.next_send_at for lead in Lead.select()} == {None}  # a draft sends nothing

    act(tenant, draft, "start")

    assert {lead.next_send_at for lead in Lead.select()} == {now + dt.timedelta(hours=2)}


def test_leads_added_to_a_started_campaign_are_scheduled_as_a_start_does(tenant, draft, now):
    add(tenant, draft, "a@example.com")
    act(tenant, draft, "start")
    clock.advance(minutes=30)

    result = add(tenant, draft, "late@example.com")

    late = Lead.get_by_id(result["ids"][0])
    assert late.status == LeadStatus.PENDING
    assert late.next_send_at == clock.now() + dt.timedelta(hours=2)
    # The earlier lead keeps the time its start gave it.
    assert Lead.get(Lead.email == "a@example.com").next_send_at == now + dt.timedelta(hours=2)


def test_the_last_lead_ending_completes_the_campaign_once(tenant, draft, now):
    add(tenant, draft, "a@example.com", "b@example.com")
    act(tenant, draft, "start")
    first, second = Lead.select().order_by(Lead.email)

    with database.transaction():
        assert outcomes.finish(first, LeadStatus.FAILED, now)
        assert not lifecycle.maybe_complete(draft, now)
    with database.transaction():
        assert outcomes.finish(second, LeadStatus.COMPLETED, now)
        assert lifecycle.maybe_complete(draft, now)
    assert not lifecycle.maybe_complete(draft, now)  # completed already: nothing more

    campaign = Campaign.get_by_id(draft)
    assert campaign.status == CampaignStatus.COMPLETED and campaign.completed_at == now
    assert events(draft)[-1] == ("complete", "active", "completed")
    assert [e[0] for e in events(draft)].count("complete") == 1


def test_resume_completes_a_campaign_whose_leads_all_ended_while_paused(tenant, draft, now):
    add(tenant, draft, "a@example.com")
    act(tenant, draft, "start")
    act(tenant, draft, "pause")
    (lead,) = Lead.select()
    with database.transaction():
        outcomes.finish(lead, LeadStatus.FAILED, now)
        assert not lifecycle.maybe_complete(draft, now)  # paused: not completed

    campaign, changed = act(tenant, draft, "resume")

    assert changed and campaign.status == CampaignStatus.COMPLETED
    assert [e[0] for e in events(draft)] == ["start", "pause", "resume", "complete"]
