"""Which of a campaign's mailboxes each claimed lead goes out from (``settings.mailboxes``).

Taken inside the claim's transaction, after the campaign's row lock:

- Only active mailboxes of the campaign's workspace whose gap has passed
  (``next_send_at <= now``) are read, under their row locks (``FOR UPDATE SKIP
  LOCKED`` on Postgres: a mailbox another dispatcher is claiming for, for another
  campaign, waits for the next pass; SQLite serialises writers). Their mails of the
  local day (every campaign's) are counted under the same lock, so two dispatchers
  cannot take one mailbox past its cap.
- A lead that has had mail keeps its mailbox (its From and its thread); one that has
  not goes to the mailbox with the most room left today (ties at random).
- A mailbox takes one mail per claim when it has a gap; with no gap, as many as it has
  room for. Its ``next_send_at`` is then stamped ``now + min_gap_seconds + uniform(0,
  random_gap_seconds)``.
"""
import datetime as dt
import random
from dataclasses import dataclass

from app.database import skip_locked
from app.models import MAILBOX_ACTIVE, Lead, Mailbox
from app.sending.schedule import next_local_midnight
from app.services.mailboxes import limit_today, sent_today_many


@dataclass
class Slot:
    mailbox: Mailbox
    room: int  # mails left today
    take: int  # mails this claim may still give it


def mailbox_ids(settings):
    """The campaign's mailboxes, or an empty list: it sends through the relay."""
    ids = settings.get("mailboxes")
    return ids if isinstance(ids, list) else []


class Senders:
    """The campaign's mailboxes that can send now, and the choice for each lead."""

    def __init__(self, campaign, ids, now):
        self.now, self.ids, self.workspace_id = now, ids, campaign.workspace_id
        ready = list(skip_locked(Mailbox.select().where(
            Mailbox.id.in_(ids) & (Mailbox.workspace == campaign.workspace_id)
            & (Mailbox.status == MAILBOX_ACTIVE)
            & (Mailbox.next_send_at.is_null() | (Mailbox.next_send_at <= now)))))
        random.shuffle(ready)  # ties in room go to any of them
        counts = sent_today_many(ready, now)
        self.slots = {}
        for mailbox in ready:
            room = limit_today(mailbox, now) - counts.get(mailbox.id, 0)
            if room > 0:
                take = room if _no_gap(mailbox) else 1
                self.slots[mailbox.id] = Slot(mailbox, room, take)
        self.used = {}

    @property
    def capacity(self):
        return sum(slot.take for slot in self.slots.values())

    def due(self):
        """Which due leads these mailboxes can mail: those mailed from one of them,
        those not mailed yet, and those mailed with no mailbox (through the relay
        before the campaign had mailboxes, or from a mailbox since deleted)."""
        return (Lead.mailbox.in_(list(self.slots)) | (Lead.current_step == 0)
                | Lead.mailbox.is_null())

    def choose(self, lead):
        """The mailbox ``lead`` goes out from now, or None (it waits)."""
        if lead.current_step > 0 and lead.mailbox_id is not None:
            slot = self.slots.get(lead.mailbox_id)
        else:
            slot = max((s for s in self.slots.values() if s.take > 0),
                       key=lambda s: s.room, default=None)
        if slot is None or slot.take <= 0:
            return None
        slot.take -= 1
        slot.room -= 1
        self.used[slot.mailbox.id] = slot.mailbox
        return slot.mailbox

    def stamp(self):
        """Each mailbox given mail waits its gap before the next."""
        for mailbox in self.used.values():
            (Mailbox.update(next_send_at=self.now + gap(mailbox))
             .where(Mailbox.id == mailbox.id).execute())


    def wake(self):
        """When one of the campaign's mailboxes can next send, after ``stamp``: now for
        one with room and no gap (or one another dispatcher held), the end of its gap,
        or its next local midnight once at its cap. None when none is active: a resume
        pulls the campaign's visit (app.lifecycle.pull_workspace)."""
        active = list(Mailbox.select().where(
            Mailbox.id.in_(self.ids) & (Mailbox.workspace == self.workspace_id)
            & (Mailbox.status == MAILBOX_ACTIVE)))
        waiting = [m for m in active if m.next_send_at is None or m.next_send_at <= self.now]
        counts = sent_today_many(waiting, self.now)
        times = [m.next_send_at for m in active if m not in waiting]
        for mailbox in waiting:
            full = limit_today(mailbox, self.now) <= counts.get(mailbox.id, 0)
            times.append(next_local_midnight(self.now, mailbox.timezone) if full else self.now)
        return min(times, default=None)


def _no_gap(mailbox):
    return not mailbox.min_gap_seconds and not mailbox.random_gap_seconds


def gap(mailbox):
    """The wait after one mail: the minimum plus a uniform random part."""
    extra = random.uniform(0, mailbox.random_gap_seconds or 0)
    return dt.timedelta(seconds=(mailbox.min_gap_seconds or 0) + extra)


def sender_settings(settings, mailbox):
    """The campaign's settings as composing sees them for mail from ``mailbox``."""
    return {**settings, "from_email": mailbox.email,
            "from_name": mailbox.from_name or settings.get("from_name")}
