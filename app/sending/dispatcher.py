"""The dispatcher: finds due mail, claims it, sends it, records what happened.

Guarantees (README, "Delivery guarantees"):

* At most once per (lead, step). A claim inserts the Message row (unique on lead, step)
  and clears the lead's ``next_send_at`` in one transaction, under the campaign's row
  lock (``FOR UPDATE SKIP LOCKED`` on Postgres; SQLite serialises writers). Just before
  the SMTP transaction the row moves ``claimed -> sending`` in its own commit; a row is
  only ever resent if it never reached ``sending``.
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
import secrets
import threading
import time
from dataclasses import dataclass, field

from peewee import JOIN, fn

from app import clock
from app.database import connection, is_postgres, skip_locked, transaction
from app.models import (
    ACTIVE,
    CLAIMED,
    COUNTED_MESSAGE_STATUSES,
    FAILED,
    IN_PROGRESS,
    LEAD_COMPLETED,
    MESSAGE_BOUNCED,
    MESSAGE_FAILED,
    OPEN_LEAD_STATUSES,
    SENDING,
    SENT,
    UNCONFIRMED,
    Campaign,
    Lead,
    Message,
    Suppression,
)
from app.sending import outcomes
from app.sending.compose import Composer, message_id_for
from app.sending.mailers import PermanentFailure, TemporaryFailure, make_mailer
from app.sending.schedule import in_window, local_day, next_due
from app.sending.templates import RenderError

log = logging.getLogger("app.dispatcher")

MAX_ATTEMPTS = 5
BACKOFF_MINUTES = (1, 5, 15, 60, 240)


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
                        for claim in claims:
                            if self.stopping.is_set():
                                self.release(claim)
                                summary.add("released")
                                continue
                            summary.add(self.deliver(claim))
                    if not progress:
                        break
            finally:
                self.mailer.close()
        return summary

    def run_forever(self, *, interval=5.0):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                summary = self.run_once()
                if summary.sent or summary.retried or summary.bounced or summary.failed:
                    log.info("dispatch pass: %s", summary)
            except Exception:  # keep the worker alive; the next pass retries
                log.exception("dispatch pass failed")
            self.stopping.wait(max(0.0, interval - (time.monotonic() - started)))

    def stop(self):
        self.stopping.set()

    # ---- finding and claiming ---------------------------------------------------------

    def due_campaigns(self, now):
        rows = (Lead.select(Lead.campaign).distinct()
                .join(Campaign, on=(Lead.campaign == Campaign.id))
                .where((Campaign.status == ACTIVE) & Lead.status.in_(OPEN_LEAD_STATUSES)
                       & (Lead.next_send_at <= now))
                .tuples())
        return [campaign_id for (campaign_id,) in rows]

    def claim(self, campaign_id, now):
        """Claim up to a batch of due leads of one campaign, within window and limit.

        Returns (claims, handled): ``handled`` also counts due leads taken off the due
        list without a claim (suppressed, sequence already done), so a pass goes on
        while it is making progress even when a whole batch needed no mail.
        """
        with transaction():
            campaign = skip_locked(Campaign.select().where(
                (Campaign.id == campaign_id) & (Campaign.status == ACTIVE))).first()
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
            leads = list(Lead.select().where(
                (Lead.campaign == campaign.id) & Lead.status.in_(OPEN_LEAD_STATUSES)
                & (Lead.next_send_at <= now)).order_by(Lead.next_send_at, Lead.id).limit(room))
            suppressed = dict(Suppression.select(Suppression.email, Suppression.reason)
                              .where((Suppression.workspace == campaign.workspace_id)
                                     & Suppression.email.in_([lead.email for lead in leads]))
                              .tuples()) if leads else {}
            token = secrets.token_hex(16)
            claims, handled = [], 0
            for lead in leads:
                if lead.email in suppressed:
                    self._drop_suppressed(lead, suppressed[lead.email], now)
                    handled += 1
                    continue
                step = lead.current_step + 1
                if step > len(sequence):  # the sequence was shortened while paused
                    self._advance(lead.id, len(sequence), sequence, campaign.id, now)
                    handled += 1
                    continue
                took = (Lead.update(next_send_at=None, status=IN_PROGRESS)
                        .where((Lead.id == lead.id) & Lead.next_send_at.is_null(False)
                               & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
                if not took:
                    continue
                pk = Message.id.default()
                message_id = message_id_for(pk, settings.get("from_email"))
                Message.insert(id=pk, lead=lead.id, campaign=campaign.id, step=step,
                               status=CLAIMED, message_id=message_id, claim_token=token,
                               claimed_until=now + _seconds(self.claim_seconds),
                               local_day=day, created_at=now).execute()
                claims.append(Claim(pk, message_id, token, step, lead, campaign.id,
                                    sequence, settings))
            self._load_threads(claims)
        return claims, handled + len(claims)

    def _load_threads(self, claims):
        if not claims:
            return
        by_lead = {c.lead.id: c for c in claims}
        rows = (Message.select(Message.lead, Message.message_id)
                .where(Message.lead.in_(list(by_lead)) & Message.status.in_((SENT, UNCONFIRMED)))
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

    def deliver(self, claim):
        """Send one claimed message; returns the outcome name for the Summary."""
        now = clock.now()
        with transaction():
            active = Campaign.select().where((Campaign.id == claim.campaign_id)
                                             & (Campaign.status == ACTIVE))
            started = (Message.update(status=SENDING,
                                      claimed_until=now + _seconds(self.sending_seconds))
                       .where((Message.id == claim.message_pk) & (Message.status == CLAIMED)
                              & (Message.claim_token == claim.token)
                              & fn.EXISTS(active))
                       .execute())
        if not started:
            self.release(claim)  # paused meanwhile, or the lease was lost: not attempted
            return "released"
        try:
            message, subject = self.composer.build(
                settings=claim.settings, sequence=claim.sequence, step_number=claim.step,
                lead=claim.lead, message_pk=claim.message_pk, message_id=claim.message_id,
                thread_ids=claim.thread_ids, sent_at=now)
        except RenderError as exc:
            return self._fail(claim, f"template error: {exc}")
        try:
            self.mailer.send(message, sender=claim.settings["from_email"],
                             recipient=claim.lead.email)
        except TemporaryFailure as exc:
            return self._retry(claim, str(exc))
        except PermanentFailure as exc:
            if exc.bounce:
                return self._bounce(claim, str(exc))
            return self._fail(claim, str(exc))
        return self._sent(claim, subject)

    def _ours(self, claim, *statuses):
        return ((Message.id == claim.message_pk) & (Message.claim_token == claim.token)
                & Message.status.in_(statuses))

    def _sent(self, claim, subject):
        now = clock.now()
        with transaction():
            in_time = (Message.update(status=SENT, sent_at=now, subject=subject)
                       .where(self._ours(claim, SENDING)).execute())
            # Too late: the reaper made it unconfirmed and already moved the lead on
            # (maybe past later steps); advancing again would set the lead back.
            late = not in_time and (Message.update(status=SENT, sent_at=now, subject=subject)
                                    .where(self._ours(claim, UNCONFIRMED)).execute())
            if in_time or late:
                outcomes.bump(claim.campaign_id, "sent_count")
            if in_time:
                self._advance(claim.lead.id, claim.step, claim.sequence, claim.campaign_id,
                              now, sent=True)
        return "sent"

    def _advance(self, lead_id, step, sequence, campaign_id, now, *, sent=False):
        """The lead has had ``step``: schedule the next one, or complete the lead."""
        changes = {Lead.current_step: step, Lead.attempts: 0}
        if sent:
            changes[Lead.last_sent_at] = now
        Lead.update(changes).where(Lead.id == lead_id).execute()
        due = next_due(sequence, step, now)
        still_open = (Lead.id == lead_id) & Lead.status.in_(OPEN_LEAD_STATUSES)
        if due is not None:
            Lead.update(next_send_at=due, status=IN_PROGRESS).where(still_open).execute()
            return
        if (Lead.update(status=LEAD_COMPLETED, next_send_at=None, finished_at=now)
                .where(still_open).execute()):
            outcomes.maybe_complete(campaign_id, now)

    def _retry(self, claim, error):
        now = clock.now()
        with transaction():
            if not Message.delete().where(self._ours(claim, SENDING)).execute():
                # Too late (unconfirmed, the lead moved on): not delivered, not retried.
                (Message.update(status=MESSAGE_FAILED, error=error)
                 .where(self._ours(claim, UNCONFIRMED)).execute())
                return "failed"
            attempts = claim.lead.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                if outcomes.finish(claim.lead, FAILED, now, error=error):
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
            (Message.update(status=MESSAGE_BOUNCED, error=error)
             .where(self._ours(claim, SENDING, UNCONFIRMED)).execute())
            outcomes.record_bounce(claim.lead, error=error)
        return "bounced"

    def _fail(self, claim, error):
        now = clock.now()
        with transaction():
            (Message.update(status=MESSAGE_FAILED, error=error)
             .where(self._ours(claim, SENDING, UNCONFIRMED)).execute())
            if outcomes.finish(claim.lead, FAILED, now, error=error):
                outcomes.maybe_complete(claim.campaign_id, now)
        return "failed"

    def release(self, claim):
        """Give back a claim that was never attempted: the lead is due again at once."""
        with transaction():
            gone = Message.delete().where(self._ours(claim, CLAIMED)).execute()
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
                   .where(Message.status.in_((CLAIMED, SENDING)) & (Message.claimed_until < now)))
        with transaction():
            rows = list(expired.for_update(skip_locked=True) if is_postgres() else expired)
            for row in rows:
                if row.status == CLAIMED:
                    if Message.delete().where((Message.id == row.id)
                                              & (Message.status == CLAIMED)).execute():
                        (Lead.update(next_send_at=now)
                         .where((Lead.id == row.lead_id) & Lead.next_send_at.is_null()
                                & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
                elif (Message.update(status=UNCONFIRMED,
                                     error="dispatcher stopped during the SMTP transaction")
                      .where((Message.id == row.id) & (Message.status == SENDING)).execute()):
                    log.warning("message %s: outcome unknown, not resent", row.id)
                    self._advance(row.lead_id, row.step, row.campaign.sequence,
                                  row.campaign_id, now)


def _seconds(n):
    return dt.timedelta(seconds=n)
