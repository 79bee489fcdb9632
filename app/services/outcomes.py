"""What happens to a lead, recorded once: sent, opened, clicked, replied, bounced,
unsubscribed; and the campaign's completion when its last lead is done.

Counters on the campaign move in the same transaction as the lead, and only when the
lead's own marker flips (``opened_at`` from NULL, say), so stats count leads, not events.
Callers hold a transaction. The webhook events of these changes (lead.opened,
lead.clicked, lead.replied on the first of each, lead.unsubscribed per lead that
moves) are emitted here, in it.
"""
from app import clock
from app.lifecycle import OPEN_LEAD_STATUSES, LeadStatus, maybe_complete, schedule_pending
from app.models import Campaign, Lead, Suppression
from app.outbox import emit, lead_data

__all__ = ["bump", "finish", "maybe_complete", "record_bounce", "record_click", "record_open",
           "record_reply", "record_unsubscribe", "schedule_pending", "suppress",
           "unsubscribe_address"]


def bump(campaign_id, counter, by=1):
    field = getattr(Campaign, counter)
    Campaign.update({field: field + by}).where(Campaign.id == campaign_id).execute()


def _message_data(message):
    """What an event says of the message it came through (open, click, reply), if any."""
    return {} if message is None else {"message_id": message.id, "step": message.step}


def _flip(lead, marker, counter, now, event, message=None):
    """Set ``lead.<marker>`` if unset; count it on the campaign and emit ``event``. True
    when it flipped."""
    field = getattr(Lead, marker)
    flipped = Lead.update({field: now}).where((Lead.id == lead.id) & field.is_null()).execute()
    if flipped:
        bump(lead.campaign_id, counter)
        emit(lead.workspace_id, event, lead_data(lead, **_message_data(message)), now=now)
    return bool(flipped)


def finish(lead, status, now, *, error=None, from_statuses=OPEN_LEAD_STATUSES):
    """Move a lead (open, unless ``from_statuses`` says otherwise) to an end state: nothing
    more is sent. True when it moved."""
    moved = (Lead.update(status=status, next_send_at=None, finished_at=now,
                         last_error=error)
             .where((Lead.id == lead.id) & Lead.status.in_(from_statuses)).execute())
    return bool(moved)


def record_open(lead, now=None, *, message=None):
    """``message``: the mail whose pixel was fetched (its id and step go in the event)."""
    return _flip(lead, "opened_at", "opened_count", now or clock.now(), "lead.opened",
                 message)


def record_click(lead, now=None, *, message=None):
    now = now or clock.now()
    # A click proves an open even when images were blocked.
    record_open(lead, now, message=message)
    return _flip(lead, "clicked_at", "clicked_count", now, "lead.clicked", message)


def record_reply(lead, *, stop, now=None, message=None):
    """Count the lead's first reply. With ``stop`` its sequence ends as replied; a lead
    whose sequence had already ended (completed) is replied either way. ``message``:
    the mail it answers."""
    now = now or clock.now()
    first = _flip(lead, "replied_at", "replied_count", now, "lead.replied", message)
    sources = (*OPEN_LEAD_STATUSES, LeadStatus.COMPLETED) if stop else (LeadStatus.COMPLETED,)
    if finish(lead, LeadStatus.REPLIED, now, from_statuses=sources):
        maybe_complete(lead.campaign_id, now)
    return first


def suppress(workspace_id, email, reason, now):
    (Suppression.insert(workspace=workspace_id, email=email, reason=reason, created_at=now)
     .on_conflict_ignore().execute())


def record_bounce(lead, *, error=None, now=None):
    """The address is dead: suppress it, and bounce the lead.

    A bounce notice often arrives after the last step went out, when the lead is already
    completed: it still turns the lead bounced (and counts), as it does an open one.
    """
    now = now or clock.now()
    suppress(lead.workspace_id, lead.email, "bounced", now)
    moved = finish(lead, LeadStatus.BOUNCED, now, error=error,
                   from_statuses=(*OPEN_LEAD_STATUSES, LeadStatus.COMPLETED))
    if moved:
        bump(lead.campaign_id, "bounced_count")
        maybe_complete(lead.campaign_id, now)
    return moved


def record_unsubscribe(lead, now=None):
    """Unsubscribe the lead's address from the whole workspace (see unsubscribe_address)."""
    return unsubscribe_address(lead.workspace_id, lead.email, now, lead=lead)


def unsubscribe_address(workspace_id, email, now=None, *, lead=None):
    """Unsubscribe ``email`` from the whole workspace.

    ``lead``, the one whose link was used, ends as unsubscribed whatever its state; every
    lead of the workspace with that address that is still being mailed stops too. Without
    a lead (it was deleted after the mail went out) the address still leaves the workspace.
    """
    now = now or clock.now()
    suppress(workspace_id, email, "unsubscribed", now)
    others = (Lead.select(Lead.id, Lead.campaign)
              .where((Lead.workspace == workspace_id) & (Lead.email == email)
                     & Lead.status.in_(OPEN_LEAD_STATUSES)))
    if lead is not None:
        others = others.where(Lead.id != lead.id)
    # Campaigns in one order (their counters stay locked until the commit): two
    # unsubscribes of two addresses in the same campaigns then wait for each other
    # instead of each holding a campaign the other wants next. (Two of one address
    # queue up on its suppression row above.)
    targets = sorted([*([lead] if lead is not None else []), *others],
                     key=lambda target: target.campaign_id)
    moved_any = False
    for target in targets:
        moved = (Lead.update(status=LeadStatus.UNSUBSCRIBED, next_send_at=None,
                             finished_at=now)
                 .where((Lead.id == target.id) & (Lead.status != LeadStatus.UNSUBSCRIBED))
                 .execute())
        if moved:
            moved_any = True
            bump(target.campaign_id, "unsubscribed_count")
            emit(workspace_id, "lead.unsubscribed",
                 {"campaign_id": target.campaign_id, "lead_id": target.id, "email": email},
                 now=now)
            maybe_complete(target.campaign_id, now)
    return moved_any
