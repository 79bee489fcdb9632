"""Leads of a campaign: add in bulk, list, remove."""
from peewee import Tuple

from app import clock
from app.database import lock_rows, transaction
from app.errors import Conflict, NotFound, ValidationFailed
from app.lifecycle import (
    CampaignStatus,
    maybe_complete,
    pull_due,
    pull_workspace,
    schedule_pending,
)
from app.models import Lead, Message, Suppression
from app.services.campaigns import get_campaign

INSERT_CHUNK = 200


def add_leads(tenant, campaign_id, *, leads):
    """Add already-validated leads; same address twice (in the campaign or the call) is a
    duplicate, a suppressed address is skipped. Returns counts and the new leads' ids."""
    now = clock.now()
    with transaction():
        campaign = get_campaign(tenant, campaign_id, for_update=True)
        if campaign.status == CampaignStatus.COMPLETED:
            raise Conflict("A completed campaign takes no more leads.",
                           code="campaign_completed", details={"status": campaign.status})
        emails = {lead["email"] for lead in leads}
        existing = set()
        suppressed = set()
        for chunk in _chunks(sorted(emails), 500):
            existing |= {e for (e,) in Lead.select(Lead.email).where(
                (Lead.campaign == campaign) & Lead.email.in_(chunk)).tuples()}
            # By address or by its domain.
            suppressed |= set(Suppression.reasons_for(campaign.workspace_id, chunk))
        rows, duplicates, skipped = [], 0, 0
        for lead in leads:
            email = lead["email"]
            if email in existing:
                duplicates += 1
                continue
            existing.add(email)
            if email in suppressed:
                skipped += 1
                continue
            rows.append({"id": Lead.id.default(), "campaign": campaign.id,
                         "workspace": campaign.workspace_id, "email": email,
                         "first_name": lead.get("first_name"),
                         "last_name": lead.get("last_name"),
                         "company": lead.get("company"),
                         "custom_fields": lead.get("custom_fields") or {},
                         "created_at": now})
        for chunk in _chunks(rows, INSERT_CHUNK):
            Lead.insert_many(chunk).execute()
        if rows and campaign.status != CampaignStatus.DRAFT:
            # As a start does: a started campaign's new leads are due for step 1.
            schedule_pending(campaign, now)
    return {"added": len(rows), "duplicates": duplicates, "suppressed": skipped,
            "ids": [row["id"] for row in rows]}


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def list_leads(tenant, campaign_id, *, status=None, limit=20, offset=0, starting_after=None):
    """A page of a campaign's leads, oldest first: (items, total, has_more).

    ``starting_after`` (a lead id) seeks through the (campaign, [status,] created_at, id)
    index instead of skipping rows, so a deep page costs what page 1 does.
    """
    campaign = get_campaign(tenant, campaign_id)
    query = Lead.for_campaign(campaign)
    if status:
        query = query.where(Lead.status == status)
    total = query.count()
    if starting_after:
        cursor_at = (Lead.select(Lead.created_at)
                     .where((Lead.id == starting_after) & (Lead.campaign == campaign)).scalar())
        if cursor_at is None:
            raise ValidationFailed(details={"fields": {"starting_after": [
                f"No lead '{starting_after}' in this campaign."]}})
        # A row-value comparison both databases turn into an index seek.
        query = query.where(Tuple(Lead.created_at, Lead.id) > Tuple(cursor_at, starting_after))
    rows = list(query.order_by(Lead.created_at, Lead.id).limit(limit + 1).offset(offset))
    return rows[:limit], total, len(rows) > limit


def delete_lead(tenant, campaign_id, lead_id):
    """Remove a lead: nothing more is sent to it (an unsent claim goes with the row)."""
    with transaction():
        # Not locked here: the lead goes first, then maybe_complete locks the campaign,
        # the order every path keeps (holding the campaign while waiting for a lead that
        # an open is being recorded on, which then waits for the campaign, deadlocks).
        campaign = get_campaign(tenant, campaign_id)
        # The lead's messages before the lead, as the record of a sent mail and the
        # reaper take them; the deletion would otherwise hold the lead and then wait for
        # a message row (its cascade) that such a record holds while it waits for the lead.
        lock_rows(Message.select(Message.id).where((Message.lead == lead_id)
                                                   & (Message.campaign == campaign)))
        mailed_from = (Lead.select(Lead.mailbox)
                       .where((Lead.id == lead_id) & (Lead.campaign == campaign)).scalar())
        deleted = Lead.delete().where((Lead.id == lead_id) & (Lead.campaign == campaign)).execute()
        if not deleted:
            raise _lead_not_found(lead_id)
        # Its messages no longer count against today's limit: room for another lead,
        # and, when it was mailed from a mailbox, for the mailbox's other campaigns
        # (after the commit, as pull_workspace says).
        now = clock.now()
        pull_due(campaign.id, now)
        maybe_complete(campaign.id)
    if mailed_from is not None:
        pull_workspace(campaign.workspace_id, now)
    return lead_id


def get_lead(tenant, campaign_id, lead_id):
    """One lead of the campaign with its messages, by step (a lead has at most one per
    step, and a sequence at most MAX_STEPS)."""
    campaign = get_campaign(tenant, campaign_id)
    lead = Lead.for_campaign(campaign).where(Lead.id == lead_id).first()
    if lead is None:
        raise _lead_not_found(lead_id)
    lead.message_list = list(Message.select().where(Message.lead == lead.id)
                             .order_by(Message.step))
    return lead


def _lead_not_found(lead_id):
    return NotFound(f"No lead '{lead_id}' in this campaign.", code="lead_not_found",
                    details={"id": lead_id})
