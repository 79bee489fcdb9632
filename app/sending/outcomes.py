"""What happens to a lead, recorded once: sent, opened, clicked, replied, bounced,
unsubscribed; and the campaign's completion when its last lead is done.

Counters on the campaign move in the same transaction as the lead, and only when the
lead's own marker flips (``opened_at`` from NULL, say), so stats count leads, not events.
Callers hold a transaction.
"""
from peewee import fn

from app import clock
from app.models import (
    ACTIVE,
    BOUNCED,
    COMPLETED,
    OPEN_LEAD_STATUSES,
    PENDING,
    REPLIED,
    UNSUBSCRIBED,
    Campaign,
    CampaignEvent,
    Lead,
    Suppression,
)
from app.sending.schedule import step_delay


def bump(campaign_id, counter, by=1):
    field = getattr(Campaign, counter)
    Campaign.update({field: field + by}).where(Campaign.id == campaign_id).execute()


def _flip(lead, marker, counter, now):
    """Set ``lead.<marker>`` if unset; count it on the campaign. True when it flipped."""
    field = getattr(Lead, marker)
    flipped = Lead.update({field: now}).where((Lead.id == lead.id) & field.is_null()).execute()
    if flipped:
        bump(lead.campaign_id, counter)
    return bool(flipped)


def finish(lead, status, now, *, error=None):
    """Move an open lead to an end state (nothing more is sent). True when it moved."""
    moved = (Lead.update(status=status, next_send_at=None, finished_at=now,
                         last_error=error)
             .where((Lead.id == lead.id) & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
    return bool(moved)


def maybe_complete(campaign_id, now=None):
    """An active campaign whose every lead has ended becomes completed (with an event)."""
    now = now or clock.now()
    open_leads = Lead.select().where((Lead.campaign == campaign_id)
                                     & Lead.status.in_(OPEN_LEAD_STATUSES))
    any_lead = Lead.select().where(Lead.campaign == campaign_id)
    done = (Campaign.update(status=COMPLETED, completed_at=now, updated_at=now,
                            version=Campaign.version + 1)
            .where((Campaign.id == campaign_id) & (Campaign.status == ACTIVE)
                   & fn.EXISTS(any_lead) & ~fn.EXISTS(open_leads))
            .execute())
    if done:
        CampaignEvent.create(campaign=campaign_id, action="complete", from_status=ACTIVE,
                             to_status=COMPLETED, created_at=now)
    return bool(done)


def record_open(lead, now=None):
    return _flip(lead, "opened_at", "opened_count", now or clock.now())


def record_click(lead, now=None):
    now = now or clock.now()
    record_open(lead, now)  # a click proves an open even when images were blocked
    return _flip(lead, "clicked_at", "clicked_count", now)


def record_reply(lead, *, stop, now=None):
    now = now or clock.now()
    first = _flip(lead, "replied_at", "replied_count", now)
    if stop and finish(lead, REPLIED, now):
        maybe_complete(lead.campaign_id, now)
    return first


def suppress(workspace_id, email, reason, now):
    (Suppression.insert(workspace=workspace_id, email=email, reason=reason, created_at=now)
     .on_conflict_ignore().execute())


def record_bounce(lead, *, error=None, now=None):
    now = now or clock.now()
    moved = finish(lead, BOUNCED, now, error=error)
    if moved:
        bump(lead.campaign_id, "bounced_count")
        suppress(lead.workspace_id, lead.email, "bounced", now)
        maybe_complete(lead.campaign_id, now)
    return moved


def record_unsubscribe(lead, now=None):
    """Unsubscribe the address from the whole workspace.

    The lead whose link was used ends as unsubscribed whatever its state; every other
    lead of the workspace with that address that is still being mailed stops too.
    """
    now = now or clock.now()
    suppress(lead.workspace_id, lead.email, "unsubscribed", now)
    others = (Lead.select(Lead.id, Lead.campaign)
              .where((Lead.workspace == lead.workspace_id) & (Lead.email == lead.email)
                     & (Lead.id != lead.id) & Lead.status.in_(OPEN_LEAD_STATUSES)))
    moved_any = False
    for target in [lead, *others]:
        moved = (Lead.update(status=UNSUBSCRIBED, next_send_at=None, finished_at=now)
                 .where((Lead.id == target.id) & (Lead.status != UNSUBSCRIBED)).execute())
        if moved:
            moved_any = True
            bump(target.campaign_id, "unsubscribed_count")
            maybe_complete(target.campaign_id, now)
    return moved_any


def schedule_pending(campaign, now):
    """Make every lead that has not started due for step 1 (on start, and on adding leads)."""
    if not campaign.sequence:
        return 0
    due = now + step_delay(campaign.sequence[0])
    return (Lead.update(next_send_at=due)
            .where((Lead.campaign == campaign.id) & (Lead.status == PENDING)
                   & Lead.next_send_at.is_null()).execute())
