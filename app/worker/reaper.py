"""Recovering from dead dispatchers.

A dispatcher that dies leaves ``claimed`` rows (never attempted) and at most one
``sending`` row per connection. When their lease runs out, ``claimed`` rows are released
and go out again; a ``sending`` row becomes ``unconfirmed`` (the server may have accepted
it) and is never resent: the lead moves on to its next step. A dispatcher that was only
stalled, and hears the server's answer after that, records the answer on the row but
leaves the lead where the reaper put it.

A dispatcher that hands a message over whole and then hears no answer (the connection
drops or times out after the final dot) settles it the same way at once (``unconfirm``).
"""
import logging

from peewee import JOIN

from app import clock
from app.database import is_postgres, transaction
from app.lifecycle import (
    OPEN_LEAD_STATUSES,
    MessageStatus,
    advance_lead,
    maybe_complete,
    pull_due,
    pull_workspace,
)
from app.models import Campaign, Lead, Message

log = logging.getLogger("app.dispatcher")


def reap():
    """Release expired claims; mark expired sends unconfirmed (never resent)."""
    now = clock.now()
    expired = (Message.select(Message, Campaign)
               .join(Campaign, JOIN.INNER, on=(Message.campaign == Campaign.id))
               .where(Message.status.in_((MessageStatus.CLAIMED, MessageStatus.SENDING))
                      & (Message.claimed_until < now)))
    freed = set()  # workspaces of the mailboxes whose rows went without a mail
    with transaction():
        # The messages alone are locked: the campaign's row is taken later, after the
        # lead's (advance_lead, maybe_complete), the order every path keeps.
        rows = list(expired.for_update(of=Message, skip_locked=True) if is_postgres()
                    else expired)
        for row in rows:
            if row.status == MessageStatus.CLAIMED:
                if Message.delete().where((Message.id == row.id)
                                          & (Message.status == MessageStatus.CLAIMED)).execute():
                    (Lead.update(next_send_at=now)
                     .where((Lead.id == row.lead_id) & Lead.next_send_at.is_null()
                            & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
                    pull_due(row.campaign_id, now)
                    if row.mailbox_id:
                        freed.add(row.campaign.workspace_id)
            else:
                unconfirm(Message.id == row.id, message_id=row.id, lead_id=row.lead_id,
                          step=row.step, sequence=row.campaign.sequence,
                          campaign_id=row.campaign_id, now=now,
                          error="dispatcher stopped during the SMTP transaction")
    for workspace_id in freed:
        pull_workspace(workspace_id, now)  # after the commit, as pull_workspace says


def unconfirm(which, *, message_id, lead_id, step, sequence, campaign_id, now, error,
              lead=None):
    """The ``sending`` message ``which`` (a condition on Message) may have been accepted:
    it becomes ``unconfirmed``, is never resent, and its lead moves on to the next step
    (or completes). Nothing is counted or emitted: nobody knows whether it was sent.
    The caller holds a transaction. True when the message moved."""
    moved = (Message.update(status=MessageStatus.UNCONFIRMED, error=error)
             .where(which & (Message.status == MessageStatus.SENDING)).execute())
    if moved:
        log.warning("message %s: outcome unknown, not resent", message_id)
        if advance_lead(lead_id, step, sequence, now, lead=lead):
            maybe_complete(campaign_id, now)
    return bool(moved)
