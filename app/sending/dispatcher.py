"""The dispatcher: finds due mail, claims it, sends it, records what happened.

Guarantees (README, "Delivery guarantees"):

* At most once per (lead, step). A claim inserts the Message row (unique on lead, step)
  and clears the lead's ``next_send_at`` in one transaction, under the campaign's row
  lock (``FOR UPDATE SKIP LOCKED`` on Postgres; SQLite serialises writers). Just before
  the SMTP transaction the row moves ``claimed -> sending`` and that is committed; a row
  is only ever resent if it never reached ``sending``. To save a commit per mail, the
  move shares its commit with the previous mail's ``sent`` record when there is one: the
  previous mail's SMTP transaction is over by then, and this one's starts right after.
* Nothing lost. A dispatcher that dies leaves ``claimed`` rows (never attempted) and at
  most one ``sending`` row per connection. When their lease runs out, ``claimed`` rows
  are released and go out again; a ``sending`` row becomes ``unconfirmed`` (the server
  may have accepted it) and is never resent: the lead moves on to its next step.
  A dispatcher that was only stalled, and hears the server's answer after that, records
  the answer on the row but leaves the lead where the reaper put it.
* The daily limit counts every claimed row of the campaign's local day, taken under the
  same lock, so concurrent dispatchers cannot exceed it.
"""
import datetime as dt
import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass, field

from peewee import JOIN, fn

from app import clock
from app.database import connection, is_postgres, skip_locked, transaction
from app.lifecycle import (
    COUNTED_MESSAGE_STATUSES,
    OPEN_LEAD_STATUSES,
    CampaignStatus,
    LeadStatus,
    MessageStatus,
)
from app.models import Campaign, Lead, Message, Suppression
from app.sending.compose import Composer, message_id_for
from app.sending.mailers import PermanentFailure, TemporaryFailure, make_mailer
from app.sending.schedule import in_window, local_day, next_due
from app.sending.templates import RenderError
from app.services import outcomes

log = logging.getLogger("app.dispatcher")

MAX_ATTEMPTS = 5
# Waits before attempts 2..5; the fifth temporary failure fails the lead.
BACKOFF_MINUTES = (1, 5, 15, 60)


@dataclass
class Claim:
    message_pk: str
    message_id: str
    token: str
    step: int
    lead: Lead
    campaign_id: str
    sequence: list
    settings: dict
    thread_ids: list = field(default_factory=list)


@dataclass
class Summary:
    sent: int = 0
    retried: int = 0
    bounced: int = 0
    failed: int = 0
    released: int = 0

    def add(self, outcome):
        setattr(self, outcome, getattr(self, outcome) + 1)


class Dispatcher:
    def __init__(self, *, mailer, composer, batch=100, claim_seconds=300,
                 sending_seconds=900):
        self.mailer = mailer
        self.composer = composer
        self.batch = batch
        self.claim_seconds = claim_seconds
        self.sending_seconds = sending_seconds
        self.stopping = threading.Event()

    @classmethod
    def from_config(cls, config):
        return cls(mailer=make_mailer(config),
                   composer=Composer(base_url=config["BASE_URL"], secret=config["SECRET_KEY"]),
                   batch=config["DISPATCH_BATCH"])

    # ---- the loop -------------------------------------------------------------------

    def run_once(self):
        """Send everything due now, then return a Summary."""
        summary = Summary()
        with connection():
            self.reap()
            try:
                while not self.stopping.is_set():
                    progress = 0
                    for campaign_id in self.due_campaigns(clock.now()):
                        claims, handled = self.claim(campaign_id, clock.now())
                        progress += handled
                        self.deliver_all(claims, summary)
                    if not progress:
                        break
            finally:
                self.mailer.close()
        return summary

    def run_forever(self, *, interval=5.0, chores=()):
        """Passes every ``interval`` seconds until stopped. ``chores``: (seconds, function)
        pairs, each function run (with a connection) at start and then every so many
        seconds between passes, housekeeping such as purging expired records."""
        due = [0.0] * len(chores)
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                summary = self.run_once()
                if summary.sent or summary.retried or summary.bounced or summary.failed:
                    log.info("dispatch pass: %s", summary)
            except Exception:  # keep the worker alive; the next pass retries
                log.exception("dispatch pass failed")
            for i, (every, chore) in enumerate(chores):
                if time.monotonic() >= due[i]:
                    due[i] = time.monotonic() + every
                    try:
                        with connection():
                            chore()
                    except Exception:  # noqa: BLE001 - a chore's failure stops no mail
                        log.exception("dispatcher chore %s failed", chore.__name__)
            self.stopping.wait(max(0.0, interval - (time.monotonic() - started)))

    def stop(self):
        self.stopping.set()

    # ---- finding and claiming ---------------------------------------------------------

    def due_campaigns(self, now):
        rows = (Lead.select(Lead.campaign).distinct()
                .join(Campaign, on=(Lead.campaign == Campaign.id))
                .where((Campaign.status == CampaignStatus.ACTIVE) & Lead.status.in_(OPEN_LEAD_STATUSES)
                       & (Lead.next_send_at <= now))
                .tuples())
        ids = [campaign_id for (campaign_id,) in rows]
        random.shuffle(ids)
        return ids

    def claim(self, campaign_id, now):
        """Claim up to a batch of due leads of one campaign, within window and limit.

        Returns (claims, handled): ``handled`` also counts due leads taken off the due
        list without a claim (suppressed, sequence already done), so a pass goes on
        while it is making progress even when a whole batch needed no mail.
        """
        with transaction():
            campaign = skip_locked(Campaign.select().where(
                (Campaign.id == campaign_id) & (Campaign.status == CampaignStatus.ACTIVE))).first()
            if campaign is None:
                return [], 0  # paused, gone, or another dispatcher holds it right now
            settings, sequence = campaign.settings, campaign.sequence
            if not sequence or not in_window(now, settings):
                return [], 0
            day = local_day(now, settings["timezone"])
            used = (Message.select().where((Message.campaign == campaign.id)
                                           & (Message.local_day == day)
                                           & Message.status.in_(COUNTED_MESSAGE_STATUSES))
                    .count())
            room = min(settings["daily_limit"] - used, self.batch)
            if room <= 0:
                return [], 0
            # A lead another transaction holds (an open or a reply being recorded, which
            # then waits for this campaign's row) is passed by until the next pass:
            # waiting for it here, holding the campaign, would deadlock with it.
            leads = list(skip_locked(Lead.select().where(
                (Lead.campaign == campaign.id) & Lead.status.in_(OPEN_LEAD_STATUSES)
                & (Lead.next_send_at <= now)).order_by(Lead.next_send_at, Lead.id)
                .limit(room)))
            suppressed = dict(Suppression.select(Suppression.email, Suppression.reason)
                              .where((Suppression.workspace == campaign.workspace_id)
                                     & Suppression.email.in_([lead.email for lead in leads]))
                              .tuples()) if leads else {}
            token = secrets.token_hex(16)
            handled, wanted = 0, []
            for lead in leads:
                if lead.email in suppressed:
                    self._drop_suppressed(lead, suppressed[lead.email], now)
                    handled += 1
                elif lead.current_step + 1 > len(sequence):  # shortened while paused
                    self._advance(lead.id, len(sequence), sequence, campaign.id, now)
                    handled += 1
                else:
                    wanted.append(lead)
            claims = []
            for lead in self._take(wanted):
                step = lead.current_step + 1
                pk = Message.id.default()
                claims.append(Claim(pk, message_id_for(pk, settings.get("from_email")), token,
                                    step, lead, campaign.id, sequence, settings))
            if claims:
                _insert_claims(claims, token=token, day=day, now=now,
                               until=now + _seconds(self.claim_seconds))
            self._load_threads(claims)
        return claims, handled + len(claims)

    def _take(self, leads):
        """Take ``leads`` off the due list (one statement); returns them.

        Nothing changed them since they were read: the claim holds their rows (FOR
        UPDATE on Postgres; SQLite holds the write lock since the claim's BEGIN).
        """
        if leads:
            (Lead.update(next_send_at=None, status=LeadStatus.IN_PROGRESS)
             .where(Lead.id.in_([lead.id for lead in leads])).execute())
        return leads

    def _load_threads(self, claims):
        if not claims:
            return
        by_lead = {c.lead.id: c for c in claims}
        rows = (Message.select(Message.lead, Message.message_id)
                .where(Message.lead.in_(list(by_lead)) & Message.status.in_((MessageStatus.SENT, MessageStatus.UNCONFIRMED)))
                .order_by(Message.step).tuples())
        for lead_id, message_id in rows:
            by_lead[lead_id].thread_ids.append(message_id)

    def _drop_suppressed(self, lead, reason, now):
        if reason == "bounced":
            outcomes.record_bounce(lead, error="address bounced earlier in this workspace",
                                   now=now)
        else:
            outcomes.record_unsubscribe(lead, now)

    # ---- sending ----------------------------------------------------------------------

    def deliver_all(self, claims, summary):
        """Send ``claims`` (one campaign's) in order, adding each outcome to ``summary``.

        Once stopping, a claim not yet ``sending`` is given back; one that is (its move
        committed with the previous mail's record) is the mail in flight and goes out.
        """
        started = None  # whether claims[i] is sending already; None: not tried yet
        for i, claim in enumerate(claims):
            if started is None:
                started = not self.stopping.is_set() and self._start(claim)
            if not started:
                # Stopping, paused meanwhile, or the lease was lost: not attempted.
                self.release(claim)
                summary.add("released")
                started = None
                continue
            following = claims[i + 1] if i + 1 < len(claims) else None
            outcome, started = self.deliver(claim, following=following)
            summary.add(outcome)

    def _start(self, claim):
        """claimed -> sending, only for our claim and only while the campaign is active:
        in its own commit (autocommit: one statement) unless a transaction is open."""
        active = Campaign.select().where((Campaign.id == claim.campaign_id)
                                         & (Campaign.status == CampaignStatus.ACTIVE))
        return bool(Message.update(status=MessageStatus.SENDING,
                                   claimed_until=clock.now() + _seconds(self.sending_seconds))
                    .where(self._ours(claim, MessageStatus.CLAIMED) & fn.EXISTS(active)).execute())

    def deliver(self, claim, *, following=None):
        """Send one message already ``sending``; returns (outcome name, started).

        ``following``, the claim to send next (or None), has its ``claimed -> sending``
        committed with this mail's ``sent`` record, unless stopping by then. ``started``
        says whether that happened (None when it was not tried).
        """
        now = clock.now()
        try:
            message, subject = self.composer.build(
                settings=claim.settings, sequence=claim.sequence, step_number=claim.step,
                lead=claim.lead, message_pk=claim.message_pk, message_id=claim.message_id,
                thread_ids=claim.thread_ids, sent_at=now)
        except RenderError as exc:
            return self._fail(claim, f"template error: {exc}"), None
        try:
            self.mailer.send(message, sender=claim.settings["from_email"],
                             recipient=claim.lead.email)
        except TemporaryFailure as exc:
            return self._retry(claim, str(exc)), None
        except PermanentFailure as exc:
            if exc.bounce:
                return self._bounce(claim, str(exc)), None
            return self._fail(claim, str(exc)), None
        if self.stopping.is_set():
            following = None
        return "sent", self._sent(claim, subject, following)

    def _ours(self, claim, *statuses):
        return ((Message.id == claim.message_pk) & (Message.claim_token == claim.token)
                & Message.status.in_(statuses))

    def _sent(self, claim, subject, following):
        """Record ``claim`` sent and, in the same commit, start ``following`` (a claim or
        None). Returns whether ``following`` started (None when there was none)."""
        now = clock.now()
        # A lead still open when this one completes means the campaign is not complete:
        # the next claim's lead usually is, and checking it is one row, not the campaign.
        open_lead = following.lead.id if following else None
        with transaction():
            in_time = (Message.update(status=MessageStatus.SENT, sent_at=now, subject=subject)
                       .where(self._ours(claim, MessageStatus.SENDING)).execute())
            if in_time:
                # The lead before the campaign's counter: the order every path keeps.
                self._advance(claim.lead.id, claim.step, claim.sequence, claim.campaign_id,
                              now, sent=True, open_lead=open_lead,
                              then=lambda: outcomes.bump(claim.campaign_id, "sent_count"))
            started = self._start(following) if following else None
        if not in_time:
            # Too late: the reaper made it unconfirmed and already moved the lead on
            # (maybe past later steps); advancing again would set the lead back.
            with transaction():
                if (Message.update(status=MessageStatus.SENT, sent_at=now, subject=subject)
                        .where(self._ours(claim, MessageStatus.UNCONFIRMED)).execute()):
                    outcomes.bump(claim.campaign_id, "sent_count")
        return started

    def _advance(self, lead_id, step, sequence, campaign_id, now, *, sent=False,
                 open_lead=None, then=None):
        """The lead has had ``step``: schedule the next one, or complete the lead (and
        the campaign, unless ``open_lead`` is a lead still open). ``then``, run once the
        lead's row is written (and locked), before the campaign's is taken."""
        due = next_due(sequence, step, now)
        changes = {Lead.current_step: step, Lead.attempts: 0}
        if sent:
            changes[Lead.last_sent_at] = now
        if due is not None:
            moves = {Lead.next_send_at: due, Lead.status: LeadStatus.IN_PROGRESS}
        else:
            moves = {Lead.status: LeadStatus.COMPLETED, Lead.next_send_at: None,
                     Lead.finished_at: now}
        # The step is recorded whatever the lead's state; only an open lead moves on.
        moved = (Lead.update({**changes, **moves})
                 .where((Lead.id == lead_id) & Lead.status.in_(OPEN_LEAD_STATUSES))
                 .execute())
        if not moved:
            Lead.update(changes).where(Lead.id == lead_id).execute()
        if then is not None:
            then()
        if moved and due is None:
            outcomes.maybe_complete(campaign_id, now, unless_open=open_lead)

    def _retry(self, claim, error):
        now = clock.now()
        with transaction():
            if not Message.delete().where(self._ours(claim, MessageStatus.SENDING)).execute():
                # Too late (unconfirmed, the lead moved on): not delivered, not retried.
                (Message.update(status=MessageStatus.FAILED, error=error)
                 .where(self._ours(claim, MessageStatus.UNCONFIRMED)).execute())
                return "failed"
            attempts = claim.lead.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                if outcomes.finish(claim.lead, LeadStatus.FAILED, now, error=error):
                    outcomes.maybe_complete(claim.campaign_id, now)
                return "failed"
            retry_at = now + _seconds(60 * BACKOFF_MINUTES[attempts - 1])
            (Lead.update(attempts=attempts, last_error=error, next_send_at=retry_at)
             .where((Lead.id == claim.lead.id) & Lead.next_send_at.is_null()
                    & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
        log.warning("temporary failure for %s (attempt %d): %s", claim.message_pk,
                    attempts, error)
        return "retried"

    def _bounce(self, claim, error):
        with transaction():
            (Message.update(status=MessageStatus.BOUNCED, error=error)
             .where(self._ours(claim, MessageStatus.SENDING, MessageStatus.UNCONFIRMED)).execute())
            outcomes.record_bounce(claim.lead, error=error)
        return "bounced"

    def _fail(self, claim, error):
        now = clock.now()
        with transaction():
            (Message.update(status=MessageStatus.FAILED, error=error)
             .where(self._ours(claim, MessageStatus.SENDING, MessageStatus.UNCONFIRMED)).execute())
            if outcomes.finish(claim.lead, LeadStatus.FAILED, now, error=error):
                outcomes.maybe_complete(claim.campaign_id, now)
        return "failed"

    def release(self, claim):
        """Give back a claim that was never attempted: the lead is due again at once."""
        with transaction():
            gone = Message.delete().where(self._ours(claim, MessageStatus.CLAIMED)).execute()
            if gone:
                (Lead.update(next_send_at=clock.now())
                 .where((Lead.id == claim.lead.id) & Lead.next_send_at.is_null()
                        & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())

    # ---- recovering from dead dispatchers ---------------------------------------------

    def reap(self):
        """Release expired claims; mark expired sends unconfirmed (never resent)."""
        now = clock.now()
        expired = (Message.select(Message, Campaign)
                   .join(Campaign, JOIN.INNER, on=(Message.campaign == Campaign.id))
                   .where(Message.status.in_((MessageStatus.CLAIMED, MessageStatus.SENDING)) & (Message.claimed_until < now)))
        with transaction():
            # The messages alone are locked: the campaign's row is taken later, after the
            # lead's (_advance, maybe_complete), the order every path keeps.
            rows = list(expired.for_update(of=Message, skip_locked=True) if is_postgres()
                        else expired)
            for row in rows:
                if row.status == MessageStatus.CLAIMED:
                    if Message.delete().where((Message.id == row.id)
                                              & (Message.status == MessageStatus.CLAIMED)).execute():
                        (Lead.update(next_send_at=now)
                         .where((Lead.id == row.lead_id) & Lead.next_send_at.is_null()
                                & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
                elif (Message.update(status=MessageStatus.UNCONFIRMED,
                                     error="dispatcher stopped during the SMTP transaction")
                      .where((Message.id == row.id) & (Message.status == MessageStatus.SENDING)).execute()):
                    log.warning("message %s: outcome unknown, not resent", row.id)
                    self._advance(row.lead_id, row.step, row.campaign.sequence,
                                  row.campaign_id, now)


def _insert_claims(claims, *, token, until, day, now):
    """The claims' Message rows (one campaign's), ``claimed`` until ``until``."""
    campaign_id = claims[0].campaign_id
    Message.insert_many([
        {Message.id: c.message_pk, Message.lead: c.lead.id, Message.campaign: campaign_id,
         Message.step: c.step, Message.status: MessageStatus.CLAIMED, Message.message_id: c.message_id,
         Message.claim_token: token, Message.claimed_until: until,
         Message.local_day: day, Message.created_at: now}
        for c in claims]).as_rowcount().execute()


def _seconds(n):
    return dt.timedelta(seconds=n)
