"""The dispatcher: finds due mail, claims it, sends it, records what happened.

Guarantees (docs/guarantees.md): at most once per (lead, step) (app.worker.claims,
app.worker.delivery), nothing lost when a dispatcher dies (app.worker.reaper), the daily
limit held across concurrent dispatchers (app.worker.claims).
"""
import logging
import threading
import time
from dataclasses import dataclass

from app import clock
from app.database import connection
from app.mail.compose import Composer
from app.mail.mailers import make_mailer
from app.worker import claims as claiming
from app.worker import delivery, reaper
from app.worker.claims import seconds

log = logging.getLogger("app.dispatcher")


@dataclass
class Summary:
    """What a pass did: how many messages went each way."""

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
                   composer=Composer.from_config(config),
                   batch=config["DISPATCH_BATCH"])

    def run_once(self):
        """Send everything due now, then return a Summary."""
        summary = Summary()
        with connection():
            self.reap()
            try:
                while not self.stopping.is_set():
                    progress = 0
                    for campaign_id in self.due_campaigns(clock.now()):
                        progress += self._campaign(campaign_id, summary)
                    if not progress:
                        break
            finally:
                self.mailer.close()
        return summary

    def _campaign(self, campaign_id, summary):
        """Claim and send one campaign's batch; returns how many leads it handled.

        A campaign whose data breaks the claim itself (settings no code path accepts,
        written around the API) is logged and passed by: it must not hold up the mail
        of every campaign after it. Its claim's transaction was rolled back, and a
        message it had started is the reaper's once its lease runs out.
        """
        try:
            batch = self.claim(campaign_id, clock.now())
            self.deliver_all(batch.claims, summary)
        except Exception:  # noqa: BLE001 - see above
            log.exception("campaign %s: dispatch failed; passed by until the next pass",
                          campaign_id)
            return 0
        return batch.handled

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

    # ---- the steps of a pass, each in its own module ---------------------------------

    def reap(self):
        reaper.reap()

    def due_campaigns(self, now):
        return claiming.due_campaigns(now)

    def claim(self, campaign_id, now):
        """Claim up to a batch of one campaign's due leads: a claims.ClaimBatch."""
        return claiming.claim(campaign_id, now, batch=self.batch,
                              lease=seconds(self.claim_seconds))

    def start(self, claim):
        """claimed -> sending for ``claim``; True when it moved."""
        return claiming.start(claim, lease=seconds(self.sending_seconds))

    def release(self, claim):
        claiming.release(claim)

    def deliver(self, claim, *, following=None):
        """Send one claim already ``sending``: a delivery.Delivery."""
        return delivery.deliver(claim, mailer=self.mailer, composer=self.composer,
                                lease=seconds(self.sending_seconds), following=following,
                                stopping=self.stopping.is_set)

    def deliver_all(self, claims, summary):
        """Send ``claims`` (one campaign's) in order, adding each outcome to ``summary``.

        Once stopping, a claim not yet ``sending`` is given back; one that is (its move
        committed with the previous mail's record) is the mail in flight and goes out.
        """
        started = False  # whether the claim at hand is sending already
        for i, claim in enumerate(claims):
            if not started:
                started = not self.stopping.is_set() and self.start(claim)
            if not started:
                # Stopping, paused meanwhile, or the lease was lost: not attempted.
                self.release(claim)
                summary.add("released")
                continue
            following = claims[i + 1] if i + 1 < len(claims) else None
            result = self.deliver(claim, following=following)
            summary.add(result.outcome)
            started = result.next_started
