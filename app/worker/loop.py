"""The dispatcher: finds due mail, claims it, sends it, records what happened.

Guarantees (docs/guarantees.md): at most once per (lead, step) (app.worker.claims,
app.worker.delivery), nothing lost when a dispatcher dies (app.worker.reaper), the daily
limit held across concurrent dispatchers (app.worker.claims).

Each pass also runs the rest of the background work, after the mail: due webhook
deliveries (app.services.webhook_delivery), then the mailboxes' IMAP folders
(app.services.imap_poll). Either one failing is logged and stops neither the sending
nor the loop.
"""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from app import clock
from app.database import connection
from app.mail.compose import Composer
from app.mail.mailers import make_mailer
from app.services import imap_poll, inbound, webhook_delivery
from app.worker import claims as claiming
from app.worker import delivery, reaper
from app.worker.claims import seconds
from app.worker.transports import Transports

log = logging.getLogger("app.dispatcher")


@dataclass
class Summary:
    """What a pass did: how many messages went each way."""

    sent: int = 0
    retried: int = 0
    bounced: int = 0
    failed: int = 0
    released: int = 0
    waiting: int = 0  # its mailbox could not log in: the lead waits for it
    # Handed over whole with no answer read: the server may have it; never resent.
    unconfirmed: int = 0

    def add(self, outcome):
        setattr(self, outcome, getattr(self, outcome) + 1)


def classify(raw, mailbox):
    """What IMAP polling hands each new message to: the inbound classification.

    A message in a mailbox can only answer or bounce mail sent from that mailbox: never
    another tenant's, another mailbox's of the same workspace, or the relay's (mail with
    no mailbox, whose answers come back through the inbound route)."""
    return inbound.receive(raw, workspace_id=mailbox.workspace_id, mailbox_id=mailbox.id)


class Dispatcher:
    """``webhooks``: deliver due webhook deliveries on each pass (``webhook_allow_http``
    and ``webhook_allow_private`` relax the SSRF guard, for development); ``imap``: poll
    the mailboxes' IMAP folders on each pass (``mailbox_allow_private``: also those on
    loopback or private addresses, for development; ``max_message_bytes``: larger mail
    is skipped). ``mailer`` is the operator's relay; a campaign with mailboxes sends
    through each mailbox's own SMTP server (``smtp_timeout`` seconds per operation,
    loopback and private hosts only with ``mailbox_allow_private``)."""

    def __init__(self, *, mailer, composer, batch=100, claim_seconds=300,
                 sending_seconds=900, webhooks=True, webhook_allow_http=False,
                 webhook_allow_private=False, imap=True, mailbox_allow_private=False,
                 max_message_bytes=1024 * 1024, smtp_timeout=30):
        self.mailer = mailer
        self.transports = Transports(mailer, timeout=smtp_timeout,
                                     allow_private=mailbox_allow_private)
        self.composer = composer
        self.batch = batch
        self.claim_seconds = claim_seconds
        self.sending_seconds = sending_seconds
        self.webhooks = webhooks
        self.webhook_allow_http = webhook_allow_http
        self.webhook_allow_private = webhook_allow_private
        self.imap = imap
        self.mailbox_allow_private = mailbox_allow_private
        self.max_message_bytes = max_message_bytes
        self.stopping = threading.Event()

    @classmethod
    def from_config(cls, config):
        return cls(mailer=make_mailer(config),
                   composer=Composer.from_config(config),
                   batch=config["DISPATCH_BATCH"],
                   webhook_allow_http=config["WEBHOOK_ALLOW_HTTP"],
                   webhook_allow_private=config["WEBHOOK_ALLOW_PRIVATE"],
                   mailbox_allow_private=config["MAILBOX_ALLOW_PRIVATE"],
                   max_message_bytes=config["MAX_CONTENT_LENGTH"],
                   smtp_timeout=config["SMTP_TIMEOUT"])

    def run_once(self):
        """Send everything due now, deliver due webhooks, poll due mailboxes; return the
        sending's Summary."""
        summary = Summary()
        with connection():
            self.reap()
            try:
                while not self.stopping.is_set():
                    progress = 0
                    for campaign_id in self.due_campaigns(clock.now()):
                        if self.stopping.is_set():
                            break  # the rest stay due for the next worker, unclaimed
                        progress += self._campaign(campaign_id, summary)
                    if not progress:
                        break
            finally:
                self.transports.close()
            # A stopping worker leaves both for the next one (each may wait on the network).
            if self.webhooks and not self.stopping.is_set():
                self._chore("webhook delivery", self.deliver_webhooks)
            if self.imap and not self.stopping.is_set():
                self._chore("IMAP polling", self.poll_mailboxes)
        return summary

    def _chore(self, name, work):
        try:
            done = work()
        except Exception:  # noqa: BLE001 - neither stops the sending nor the loop
            log.exception("%s failed; retried on the next pass", name)
            return
        if done:
            log.info("%s: %s", name, done)

    def deliver_webhooks(self):
        """Send the due webhook deliveries once each: counts by outcome, or None."""
        counts = webhook_delivery.deliver_due(allow_http=self.webhook_allow_http,
                                              allow_private=self.webhook_allow_private)
        return counts if any(counts.values()) else None

    def poll_mailboxes(self):
        """Read new mail from the due mailboxes: how many messages were classified."""
        return imap_poll.poll_due(classify, allow_private=self.mailbox_allow_private,
                                  max_bytes=self.max_message_bytes)

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
                if (summary.sent or summary.retried or summary.bounced or summary.failed
                        or summary.unconfirmed):
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
        return delivery.deliver(claim, mailer=self.transports.for_claim(claim),
                                composer=self.composer,
                                lease=seconds(self.sending_seconds), following=following,
                                stopping=self.stopping.is_set)

    def deliver_all(self, claims, summary):
        """Send ``claims`` (one campaign's) round by round, adding each outcome to
        ``summary`` (delivery.send_all: a round's mails go out at once, one per SMTP
        session).

        Once stopping, a claim not yet ``sending`` is given back; one that is (its move
        committed with the previous round's record) is a mail in flight and goes out.
        """
        with ThreadPoolExecutor(max_workers=delivery.ROUND, thread_name_prefix="smtp") as pool:
            for outcome in delivery.send_all(claims, transports=self.transports,
                                             composer=self.composer,
                                             lease=seconds(self.sending_seconds), pool=pool,
                                             stopping=self.stopping.is_set):
                summary.add(outcome)
