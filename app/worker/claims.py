"""Finding due mail and claiming it: one campaign's batch at a time, under its row lock.

A claim inserts the Message rows (unique on lead and step: the at-most-once guarantee)
and takes the leads off the due list in one transaction, under the campaign's row lock
(``FOR UPDATE SKIP LOCKED`` on Postgres; SQLite serialises writers). The daily limit
counts every claimed row of the campaign's local day, taken under the same lock, so
concurrent dispatchers cannot exceed it.

A campaign with ``settings.mailboxes`` sends from those mailboxes (app.worker.senders:
the choice, the caps across campaigns and the gaps, counted under the mailboxes' row
locks); without, through the operator's relay with ``settings.from_email``.

A pass visits only the campaigns whose ``next_send_at`` has come (one range of the
(status, next_send_at) index), so its cost follows the mail there is to send, not the
number of campaigns. Each visit stamps the campaign's next one, under the same lock:
its earliest due lead, put off to the next opening of its window and, once its daily
limit is reached, to its next local day. Whatever makes a lead due sooner pulls the
stamp earlier (app.lifecycle.pull_due), so a stamp is never later than mail that could
go out; one too early costs a visit that finds nothing.
"""
import datetime as dt
import random
import secrets
from dataclasses import dataclass, field

from peewee import fn

from app import clock
from app.database import skip_locked, transaction
from app.lifecycle import (
    COUNTED_MESSAGE_STATUSES,
    OPEN_LEAD_STATUSES,
    CampaignStatus,
    LeadStatus,
    MessageStatus,
    advance_lead,
    maybe_complete,
    pull_due,
    pull_workspace,
)
from app.mail.compose import message_id_for
from app.models import Campaign, Lead, Message, Suppression
from app.sending.schedule import in_window, local_day, next_local_midnight, next_opening
from app.services import outcomes, suppressions
from app.worker.senders import Senders, mailbox_ids, sender_settings


@dataclass
class Claim:
    """One (lead, step) mail this pass holds: its Message row and what composing needs."""

    message_pk: str
    message_id: str
    token: str
    step: int
    lead: Lead
    campaign_id: str
    sequence: list
    settings: dict
    thread_ids: list = field(default_factory=list)
    mailbox: object = None  # the Mailbox it goes out from; None: the relay


@dataclass(frozen=True)
class ClaimBatch:
    """What claiming one campaign did. ``handled`` counts the due leads taken off the due
    list, with a claim or without one (suppressed, sequence already done), so a pass
    goes on while it makes progress even when a whole batch needed no mail."""

    claims: list
    handled: int


NOTHING = ClaimBatch([], 0)


def due(now):
    """The campaigns a pass visits at ``now``: active, their visit come. A query of
    Campaign, so further conditions (the mailboxes they send from) can join it."""
    return Campaign.select(Campaign.id).where((Campaign.status == CampaignStatus.ACTIVE)
                                              & (Campaign.next_send_at <= now))


def due_campaigns(now):
    """The ids of due(now), in random order (so no campaign always goes first)."""
    ids = [campaign_id for (campaign_id,) in due(now).tuples()]
    random.shuffle(ids)
    return ids


def next_visit(campaign_id, settings, now, *, capped):
    """When the campaign can next send, seen from ``now`` (``capped``: its daily limit
    is reached for the local day of ``now``): its earliest due lead's time, within its
    window and past the capped day. None when no lead is due at all."""
    earliest = (Lead.select(Lead.next_send_at)
                .where((Lead.campaign == campaign_id) & Lead.next_send_at.is_null(False)
                       & Lead.status.in_(OPEN_LEAD_STATUSES))
                .order_by(Lead.next_send_at).limit(1).first())
    if earliest is None:
        return None
    at = max(earliest.next_send_at, now)
    if capped:
        at = max(at, next_local_midnight(now, settings["timezone"]))
    return next_opening(at, settings)


def _after(at, wake):
    """A campaign that sends from mailboxes is visited when it has a due lead and one of
    its mailboxes can send (``wake``; None: none is active, a resume pulls it)."""
    if at is None or wake is None:
        return None
    return max(at, wake)


def _stamp(campaign_id, at):
    Campaign.update(next_send_at=at).where(Campaign.id == campaign_id).execute()


def claim(campaign_id, now, *, batch, lease):
    """Claim up to ``batch`` due leads of one campaign, within its window and daily limit,
    ``claimed`` for ``lease`` (a timedelta). Returns a ClaimBatch."""
    with transaction():
        campaign = skip_locked(Campaign.select().where(
            (Campaign.id == campaign_id) & (Campaign.status == CampaignStatus.ACTIVE))).first()
        if campaign is None:
            return NOTHING  # paused, gone, or another dispatcher holds it right now
        settings, sequence = campaign.settings, campaign.sequence
        if not sequence:
            _stamp(campaign.id, None)  # nothing to send until a resume (its sequence)
            return NOTHING
        if not in_window(now, settings):
            _stamp(campaign.id, next_visit(campaign.id, settings, now, capped=False))
            return NOTHING
        day = local_day(now, settings["timezone"])
        used = (Message.select().where((Message.campaign == campaign.id)
                                       & (Message.local_day == day)
                                       & Message.status.in_(COUNTED_MESSAGE_STATUSES))
                .count())
        room = min(settings["daily_limit"] - used, batch)
        if room <= 0:
            _stamp(campaign.id, next_visit(campaign.id, settings, now, capped=True))
            return NOTHING
        senders = _senders(campaign, now)
        if senders is not None and senders.capacity <= 0:
            _stamp(campaign.id, _after(next_visit(campaign.id, settings, now, capped=False),
                                       senders.wake()))
            return NOTHING
        if senders is not None:
            room = min(room, senders.capacity)
        due = ((Lead.campaign == campaign.id) & Lead.status.in_(OPEN_LEAD_STATUSES)
               & (Lead.next_send_at <= now))
        if senders is not None:
            due &= senders.due()
        # A lead another transaction holds (an open or a reply being recorded, which
        # then waits for this campaign's row) is passed by until the next pass:
        # waiting for it here, holding the campaign, would deadlock with it.
        leads = list(skip_locked(Lead.select().where(due)
                                 .order_by(Lead.next_send_at, Lead.id).limit(room)))
        # By address or by its domain.
        suppressed = Suppression.reasons_for(campaign.workspace_id,
                                             [lead.email for lead in leads])
        token = secrets.token_hex(16)
        handled, wanted = 0, []
        for lead in leads:
            if lead.email in suppressed:
                _drop_suppressed(lead, suppressed[lead.email], now)
                handled += 1
            elif lead.current_step + 1 > len(sequence):  # shortened while paused
                if advance_lead(lead.id, len(sequence), sequence, now, lead=lead):
                    maybe_complete(campaign.id, now)
                handled += 1
            else:
                wanted.append(lead)
        claims = []
        for lead in wanted:
            mailbox = senders.choose(lead) if senders is not None else None
            if senders is not None and mailbox is None:
                continue  # its mailbox cannot send now: it waits, untouched
            claims.append(_new_claim(lead, campaign, token, mailbox))
        if claims:
            # Nothing changed these leads since they were read: the claim holds their
            # rows (FOR UPDATE on Postgres; SQLite holds the write lock since BEGIN).
            (Lead.update(next_send_at=None, status=LeadStatus.IN_PROGRESS)
             .where(Lead.id.in_([c.lead.id for c in claims])).execute())
            _insert(claims, token=token, day=day, now=now, until=now + lease)
            _load_threads(claims)
            if senders is not None:
                _assign(claims)
                senders.stamp()
        # The claimed leads are off the due list; each pulls the stamp again once its
        # next step is due (or its retry, or its release).
        capped = used + len(claims) >= settings["daily_limit"]
        at = next_visit(campaign.id, settings, now, capped=capped)
        _stamp(campaign.id, at if senders is None else _after(at, senders.wake()))
    return ClaimBatch(claims, handled + len(claims))


def _senders(campaign, now):
    """The campaign's mailboxes that can send now (app.worker.senders), or None: it
    sends through the relay."""
    ids = mailbox_ids(campaign.settings)
    return Senders(campaign, ids, now) if ids else None


def _new_claim(lead, campaign, token, mailbox):
    """The claim of ``lead``'s next step, from ``mailbox`` (None: the relay)."""
    settings = campaign.settings
    if mailbox is not None:
        settings = sender_settings(settings, mailbox)
    pk = Message.id.default()
    return Claim(pk, message_id_for(pk, settings.get("from_email")), token,
                 lead.current_step + 1, lead, campaign.id, campaign.sequence, settings,
                 mailbox=mailbox)


def _assign(claims):
    """Each lead keeps the mailbox it was claimed for (set at its first claim)."""
    moved = {}
    for c in claims:
        if c.lead.mailbox_id != c.mailbox.id:
            moved.setdefault(c.mailbox.id, []).append(c.lead.id)
            c.lead.mailbox_id = c.mailbox.id
    for mailbox_id, lead_ids in moved.items():
        Lead.update(mailbox=mailbox_id).where(Lead.id.in_(lead_ids)).execute()


def _insert(claims, *, token, until, day, now):
    """The claims' Message rows (one campaign's), ``claimed`` until ``until``."""
    Message.insert_many([
        {Message.id: c.message_pk, Message.lead: c.lead.id, Message.campaign: c.campaign_id,
         Message.step: c.step, Message.status: MessageStatus.CLAIMED,
         Message.message_id: c.message_id, Message.claim_token: token,
         Message.claimed_until: until, Message.local_day: day, Message.created_at: now,
         Message.mailbox: c.mailbox.id if c.mailbox is not None else None}
        for c in claims]).as_rowcount().execute()


def _load_threads(claims):
    """The Message-IDs each lead was mailed before, for the References header."""
    by_lead = {c.lead.id: c for c in claims}
    rows = (Message.select(Message.lead, Message.message_id)
            .where(Message.lead.in_(list(by_lead))
                   & Message.status.in_((MessageStatus.SENT, MessageStatus.UNCONFIRMED)))
            .order_by(Message.step).tuples())
    for lead_id, message_id in rows:
        by_lead[lead_id].thread_ids.append(message_id)


def _drop_suppressed(lead, reason, now):
    if reason == "bounced":
        outcomes.record_bounce(lead, error="address bounced earlier in this workspace",
                               now=now)
    elif reason == "unsubscribed":
        outcomes.record_unsubscribe(lead, now)
    else:  # the tenant's own suppression of the address or its domain
        suppressions.end_lead(lead, now)


def ours(claim, *statuses):
    """The claim's own Message row, in one of ``statuses``."""
    return ((Message.id == claim.message_pk) & (Message.claim_token == claim.token)
            & Message.status.in_(statuses))


def start(claim, *, lease):
    """claimed -> sending, only for our claim and only while the campaign is active; in
    its own commit unless the caller holds a transaction. True when it moved."""
    return bool(start_many([claim], lease=lease))


def start_many(claims, *, lease):
    """``start`` for several claims of one campaign, in one statement: the Message ids
    of those that moved."""
    if not claims:
        return set()
    active = Campaign.select(Campaign.id).where((Campaign.id == claims[0].campaign_id)
                                                & (Campaign.status == CampaignStatus.ACTIVE))
    moved = (Message.update(status=MessageStatus.SENDING, claimed_until=clock.now() + lease)
             .where(Message.id.in_([c.message_pk for c in claims])
                    & Message.claim_token.in_({c.token for c in claims})
                    & (Message.status == MessageStatus.CLAIMED) & fn.EXISTS(active))
             .returning(Message.id).tuples().execute())
    return {message_pk for (message_pk,) in moved}


def release(claim):
    """Give back a claim that was never attempted: the lead is due again at once."""
    freed = False
    with transaction():
        if Message.delete().where(ours(claim, MessageStatus.CLAIMED)).execute():
            now = clock.now()
            (Lead.update(next_send_at=now)
             .where((Lead.id == claim.lead.id) & Lead.next_send_at.is_null()
                    & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
            pull_due(claim.campaign_id, now)
            freed = True
    if freed and claim.mailbox is not None:
        # Its mailbox's other campaigns may send (after the commit: pull_workspace).
        pull_workspace(claim.mailbox.workspace_id, clock.now())


def seconds(n):
    return dt.timedelta(seconds=n)
