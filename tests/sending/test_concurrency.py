"""The delivery guarantees with real dispatcher processes and a real SMTP server.

* Several ``dispatcher run --once`` processes on the same due mail (Postgres): each
  (lead, step) mailed exactly once, no local day over the daily limit, nothing left out.
* A dispatcher killed with SIGKILL in the middle of a batch: after the leases run out and
  another dispatcher finishes, no (lead, step) was mailed twice and nothing was lost but
  the one mail whose SMTP transaction the kill interrupted (recorded as unconfirmed).
* A dispatcher stopped (SIGSTOP) inside an SMTP transaction until its leases ran out,
  then resumed: it sends none of the claims it lost, and its late answer is recorded
  without setting the lead back to a step that was already sent.
* A server that drops the connection at the DATA command, before the message: retried,
  delivered once. (A drop once the message went out whole is tests/sending/
  test_unconfirmed.py: the client cannot tell how much of it the server read.)

The processes run on the real clock; work that must happen "later" (after a lease or a
backoff) runs in this process with ``app.clock`` moved forward instead of sleeping.
"""
import asyncio
import datetime as dt
import email
import re
import threading
import time
from collections import Counter
from contextlib import contextmanager
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol

from app import clock
from app.database import connection
from app.lifecycle import CampaignStatus, LeadStatus, MessageStatus
from app.mail.compose import Composer
from app.mail.mailers import SMTPMailer
from app.models import Campaign, Lead, Message
from app.sending.schedule import local_day
from app.worker import BACKOFF_MINUTES, Dispatcher
from tests.conftest import ON_POSTGRES
from tests.sending.conftest import Inbox, free_port
from tests.sending.procs import Dispatchers, dispatcher_env, wait_until

pytestmark = pytest.mark.slow

# Step 2 is due as soon as step 1 went out, so one pass of a dispatcher sends both.
SEQUENCE = [
    {"subject": "[step 1] Hello {{firstName}}", "body": "Hi {{firstName}}, a first note."},
    {"subject": "[step 2] Still there, {{firstName}}?", "body": "Following up.",
     "delay": 0, "delay_unit": "minutes"},
]
STEP_TAG = re.compile(r"\[step (\d+)\]")
ACCEPTED = "250 Message accepted for delivery"


# ---- SMTP servers ---------------------------------------------------------------------

@contextmanager
def serve_smtp(handler, protocol=SMTPProtocol):
    """An aiosmtpd server on loopback with ``handler``; yields its port."""

    class _Controller(Controller):
        def factory(self):
            return protocol(self.handler, **self.SMTP_kwargs)

    controller = _Controller(handler, hostname="127.0.0.1", port=free_port(),
                             decode_data=False)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


class GatedInbox(Inbox):
    """Holds the reply to every message until ``parties`` connections are in DATA at once.

    Only dispatchers that each hold claims at the same moment can open the gate, so an
    open gate proves the processes really overlapped. After ``timeout`` seconds the gate
    opens anyway (and ``overlapped`` stays False) so a failing run still ends.
    """

    def __init__(self, *, parties, timeout):
        super().__init__()
        self.parties, self.timeout = parties, timeout
        self.peers = set()
        self.overlapped = False
        self._gate = None

    async def handle_DATA(self, server, session, envelope):
        if self._gate is None:
            self._gate = asyncio.Event()
        self.peers.add(session.peer)
        if len(self.peers) >= self.parties and not self._gate.is_set():
            self.overlapped = True
            self._gate.set()
        if not self._gate.is_set():
            try:
                await asyncio.wait_for(self._gate.wait(), self.timeout)
            except TimeoutError:
                self._gate.set()
        return await super().handle_DATA(server, session, envelope)


class SlowInbox(Inbox):
    """``delay`` seconds per message, and one message (the ``hold_at``-th) held.

    The held message is kept by the server at once (``accept_held``: only the reply is
    held back) or only when ``release`` is set and the reply is ``held_reply``, a 250.
    ``holding`` is set once the server holds it: the client is then inside its SMTP
    transaction for that mail, and a test can kill or stop it there.
    """

    def __init__(self, *, delay, hold_at, accept_held, held_reply=ACCEPTED):
        super().__init__()
        self.delay, self.hold_at, self.accept_held = delay, hold_at, accept_held
        self.held_reply = held_reply
        self.entered = 0
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.entered += 1
        await asyncio.sleep(self.delay)
        if self.entered != self.hold_at:
            return await super().handle_DATA(server, session, envelope)
        if self.accept_held:
            await super().handle_DATA(server, session, envelope)
        self.holding.set()
        while not self.release.is_set():  # ends early if the client goes away
            await asyncio.sleep(0.01)
        if not self.accept_held and self.held_reply == ACCEPTED:
            await super().handle_DATA(server, session, envelope)
        return self.held_reply


class DroppingInbox(Inbox):
    def __init__(self, *, drop_once):
        super().__init__()
        self.drop_once = set(drop_once)
        self.dropped = []


class DroppingSMTP(SMTPProtocol):
    """Hangs up on the DATA command, before its 354, once per address in ``drop_once``."""

    async def smtp_DATA(self, arg):
        inbox = self.event_handler
        rcpt_tos = self.envelope.rcpt_tos if self.envelope else []
        victim = next((a for a in rcpt_tos if a in inbox.drop_once), None)
        if victim is None:
            return await super().smtp_DATA(arg)
        inbox.drop_once.discard(victim)
        inbox.dropped.append(victim)
        self.transport.close()


# ---- helpers --------------------------------------------------------------------------

def received(inbox):
    """How many times the server accepted each (recipient, step)."""
    counts = Counter()
    for item in list(inbox.messages):
        message = email.message_from_bytes(item["data"], policy=policy.default)
        step = int(STEP_TAG.search(str(message["Subject"])).group(1))
        for recipient in item["to"]:
            counts[(recipient, step)] += 1
    return counts


def duplicates(counts):
    return {key: n for key, n in counts.items() if n > 1}


def messages_of(campaign_id):
    """(email, step) -> Message row, for every Message of the campaign."""
    rows = (Message.select(Message, Lead).join(Lead, on=(Message.lead == Lead.id))
            .where(Message.campaign == campaign_id))
    by_key = {}
    for row in rows:
        key = (row.lead.email, row.step)
        assert key not in by_key, f"two Message rows for {key}"
        by_key[key] = row
    return by_key


def in_process_dispatcher(app, port):
    """A dispatcher in this process (it follows app.clock), built like the fixture's."""
    return Dispatcher(mailer=SMTPMailer(host="127.0.0.1", port=port, timeout=5),
                      composer=Composer(base_url=app.config["BASE_URL"],
                                        secret=app.config["SECRET_KEY"]),
                      batch=50)


def midday_zone(now):
    """A zone where it is around noon now: a short test never crosses a local midnight."""
    east = 12 - now.hour  # hours ahead of UTC, -11..12
    return f"Etc/GMT{-east:+d}"  # the Etc/ names count the other way: Etc/GMT-3 is UTC+3


def leads(prefix, count, domain="example.com"):
    return [{"email": f"{prefix}{i:02d}@{domain}", "first_name": f"Lead{i}"}
            for i in range(count)]


# ---- several dispatchers at once ------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="several dispatchers at once rely on Postgres "
                    "row locks (FOR UPDATE SKIP LOCKED); set TEST_DATABASE_URL to a "
                    "postgresql:// URL to run it")
def test_three_dispatchers_at_once_mail_each_lead_step_once_within_limits(
        app, launch, tmp_path):
    zone = midday_zone(clock.now())
    per_campaign = 60
    limits = {}
    for n, limit in enumerate((1000, 70, 45)):
        campaign_id = launch(leads=leads("lead", per_campaign, f"c{n}.example.com"),
                             sequence=SEQUENCE, settings={"daily_limit": limit, "timezone": zone})
        limits[campaign_id] = f"c{n}.example.com", limit
    inbox = GatedInbox(parties=3, timeout=8)  # below the clients' SMTP timeout

    with connection(), serve_smtp(inbox) as port:
        # Small batches: many claims per campaign, so the processes contend for each one.
        env = {**dispatcher_env(app, smtp_port=port, var_dir=tmp_path), "DISPATCH_BATCH": "5"}
        with Dispatchers(env, tmp_path) as procs:
            workers = [procs.start("--once") for _ in range(3)]
            deadline = time.monotonic() + 25
            codes = [w.wait(timeout=max(0.1, deadline - time.monotonic())) for w in workers]
            assert codes == [0, 0, 0], "\n".join(w.output() for w in workers)
            summaries = [w.summary() for w in workers]

        assert inbox.overlapped, "the three dispatchers never held claims at the same time"
        counts = received(inbox)
        assert not duplicates(counts)
        assert all(s["sent"] > 0 for s in summaries), summaries
        assert not any(s["retried"] or s["bounced"] or s["failed"] for s in summaries), summaries
        assert sum(s["sent"] for s in summaries) == len(inbox.messages)

        for campaign_id, (domain, limit) in limits.items():
            rows = messages_of(campaign_id)
            # The database and the server agree on what went out, and all of it is sent.
            assert {row.status for row in rows.values()} == {MessageStatus.SENT}
            assert set(rows) == {key for key in counts if key[0].endswith(f"@{domain}")}
            # No local day over the limit (the day as the campaign's zone saw each send).
            per_day = Counter(local_day(row.sent_at, zone) for row in rows.values())
            assert per_day == Counter(row.local_day for row in rows.values())
            assert max(per_day.values()) <= limit, (domain, per_day, limit)
            # Every due mail within the limit went out: the day's allowance, or all of it.
            assert len(rows) == min(limit, per_campaign * len(SEQUENCE)), domain
            campaign = Campaign.get_by_id(campaign_id)
            assert campaign.sent_count == len(rows)
            # Nothing stranded: a lead is finished, or still due (held back by the limit).
            mailed = Counter(email for (email, _) in rows)
            for lead in Lead.select().where(Lead.campaign == campaign_id):
                assert lead.status == LeadStatus.COMPLETED or lead.next_send_at is not None, lead.email
                assert lead.current_step == mailed[lead.email], lead.email
            if limit >= per_campaign * len(SEQUENCE):
                assert campaign.status == CampaignStatus.COMPLETED


# ---- killed mid-batch -----------------------------------------------------------------

@pytest.mark.parametrize("step, accepted", [
    (1, True),   # the server kept the mail; the kill came before its reply
    (1, False),  # the server never kept it
    (2, True),   # a follow-up, in the dispatcher's second round of claims
], ids=["step1-accepted", "step1-not-accepted", "step2-accepted"])
def test_sigkill_mid_batch_then_recovery_mails_nothing_twice(
        app, launch, tmp_path, step, accepted):
    lead_count = 20
    campaign_id = launch(leads=leads("lead", lead_count), sequence=SEQUENCE)
    every = {(lead["email"], n) for lead in leads("lead", lead_count)
             for n in range(1, len(SEQUENCE) + 1)}
    # Step 1 goes to every lead before any step 2: hold the 5th mail of the wanted step.
    inbox = SlowInbox(delay=0.02, hold_at=(step - 1) * lead_count + 5, accept_held=accepted)

    with connection(), serve_smtp(inbox) as port:
        env = dispatcher_env(app, smtp_port=port, var_dir=tmp_path)
        with Dispatchers(env, tmp_path) as procs:
            worker = procs.start("--interval", "0.5")
            wait_until(lambda: inbox.holding.is_set() or not worker.running(),
                       timeout=20, message="the server to hold a mail")
            assert worker.running(), worker.output()
            worker.kill()

        # The kill landed in the middle of a batch: claims were left behind, and exactly
        # one mail (the held one) had started its SMTP transaction.
        left = Counter(status for (status,) in Message.select(Message.status)
                       .where(Message.status.in_((MessageStatus.CLAIMED, MessageStatus.SENDING))).tuples())
        assert left[MessageStatus.CLAIMED] > 0 and left[MessageStatus.SENDING] == 1, left
        [cut_off] = [key for key, row in messages_of(campaign_id).items()
                     if row.status == MessageStatus.SENDING]
        assert cut_off[1] == step
        sent_before = Message.select().where(Message.status == MessageStatus.SENT).count()
        assert len(inbox.messages) == sent_before + accepted

        # Both leases run out; then a dispatcher works through what is due.
        recovery = in_process_dispatcher(app, port)
        clock.freeze(clock.now() + dt.timedelta(
            seconds=max(recovery.claim_seconds, recovery.sending_seconds) + 60))
        summary = recovery.run_once()

        counts = received(inbox)
        assert not duplicates(counts)
        rows = messages_of(campaign_id)
        assert set(rows) == every
        # The interrupted mail is unconfirmed and was not sent again: the server has it
        # once if it had kept it, not at all otherwise. Everything else arrived once.
        assert rows[cut_off].status == MessageStatus.UNCONFIRMED
        assert counts[cut_off] == int(accepted)
        assert {row.status for key, row in rows.items() if key != cut_off} == {MessageStatus.SENT}
        assert {key for key in every if counts[key] != 1} <= {cut_off}
        assert summary.sent == len(every) - 1 - sent_before
        # The lead moved on past it: every lead finished its sequence.
        for lead in Lead.select().where(Lead.campaign == campaign_id):
            assert (lead.status, lead.current_step) == (LeadStatus.COMPLETED, len(SEQUENCE)), \
                lead.email
        campaign = Campaign.get_by_id(campaign_id)
        assert campaign.status == CampaignStatus.COMPLETED
        assert campaign.sent_count == len(every) - 1


# ---- stalled past its leases ---------------------------------------------------------

@pytest.mark.parametrize("late_reply", [ACCEPTED, "451 Try again later"],
                         ids=["accepted-late", "refused-late"])
def test_dispatcher_stalled_past_its_leases_neither_resends_nor_sets_its_lead_back(
        app, launch, tmp_path, late_reply):
    sequence = [*SEQUENCE, {"subject": "[step 3] A last note, {{firstName}}",
                            "body": "Bye for now.", "delay": 1, "delay_unit": "days"}]
    campaign_id = launch(leads=leads("lead", 3), sequence=sequence)
    every = {(lead["email"], n) for lead in leads("lead", 3) for n in (1, 2, 3)}
    inbox = SlowInbox(delay=0, hold_at=1, accept_held=False, held_reply=late_reply)
    accepted = late_reply == ACCEPTED

    with connection(), serve_smtp(inbox) as port:
        env = dispatcher_env(app, smtp_port=port, var_dir=tmp_path)
        with Dispatchers(env, tmp_path) as procs:
            worker = procs.start("--once")
            wait_until(lambda: inbox.holding.is_set() or not worker.running(),
                       timeout=20, message="the server to hold a mail")
            assert worker.running(), worker.output()
            worker.pause()  # stalled inside the SMTP transaction of its first mail
            [stalled] = [key for key, row in messages_of(campaign_id).items()
                         if row.status == MessageStatus.SENDING]

            # Its leases run out; another dispatcher takes over and sends steps 1 and 2.
            recovery = in_process_dispatcher(app, port)
            clock.freeze(clock.now() + dt.timedelta(
                seconds=max(recovery.claim_seconds, recovery.sending_seconds) + 60))
            assert recovery.run_once().sent == 2 * 3 - 1
            assert messages_of(campaign_id)[stalled].status == MessageStatus.UNCONFIRMED
            step_three_due = clock.now() + dt.timedelta(days=1)

            # The stalled dispatcher wakes up and hears the server's answer at last.
            inbox.release.set()
            worker.resume()
            assert worker.wait(timeout=20) == 0, worker.output()
            summary = worker.summary()

        # It sent none of the claims the other dispatcher had taken over.
        assert (summary["sent"], summary["released"]) == (int(accepted), 2), summary
        counts = received(inbox)
        assert not duplicates(counts)
        went_out = every - {(email, 3) for (email, _) in every}
        assert set(counts) == (went_out if accepted else went_out - {stalled})
        # The answer is recorded on the row (sent, or failed: it was not delivered) ...
        rows = messages_of(campaign_id)
        assert rows[stalled].status == (MessageStatus.SENT if accepted else MessageStatus.FAILED)
        # ... and nobody is set back to a step already sent: all wait for step 3.
        for lead in Lead.select().where(Lead.campaign == campaign_id):
            assert (lead.status, lead.current_step, lead.attempts, lead.next_send_at) == (
                LeadStatus.IN_PROGRESS, 2, 0, step_three_due), lead.email

        clock.freeze(step_three_due)
        assert recovery.run_once().sent == 3
        counts = received(inbox)
        assert not duplicates(counts)
        assert set(counts) == (every if accepted else every - {stalled})
        campaign = Campaign.get_by_id(campaign_id)
        assert (campaign.status, campaign.sent_count) == (CampaignStatus.COMPLETED, len(counts))


# ---- connection dropped before the message ---------------------------------------------

def test_connection_dropped_at_the_data_command_is_retried_and_delivered_once(app, launch,
                                                                            tmp_path):
    victim = "lead02@example.com"
    others = {(lead["email"], step) for lead in leads("lead", 5)
              for step in range(1, len(SEQUENCE) + 1) if lead["email"] != victim}
    campaign_id = launch(leads=leads("lead", 5), sequence=SEQUENCE)
    inbox = DroppingInbox(drop_once={victim})

    with connection(), serve_smtp(inbox, DroppingSMTP) as port:
        before = clock.now()
        env = dispatcher_env(app, smtp_port=port, var_dir=tmp_path)
        with Dispatchers(env, tmp_path) as procs:
            worker = procs.start("--once")
            assert worker.wait(timeout=20) == 0, worker.output()
            summary = worker.summary()

        assert inbox.dropped == [victim]
        # The others went out in the same pass, over a fresh connection after the drop.
        assert set(received(inbox)) == others
        assert not duplicates(received(inbox))
        assert (summary["sent"], summary["retried"]) == (len(others), 1), summary
        # The interrupted mail counts as never sent: no Message row, a retry scheduled.
        assert (victim, 1) not in messages_of(campaign_id)
        lead = Lead.get(Lead.email == victim)
        assert (lead.status, lead.current_step, lead.attempts) == (LeadStatus.IN_PROGRESS, 0, 1)
        assert lead.next_send_at >= before + dt.timedelta(minutes=BACKOFF_MINUTES[0])

        # After the backoff it goes out, once, and the sequence carries on.
        clock.freeze(lead.next_send_at + dt.timedelta(seconds=1))
        assert in_process_dispatcher(app, port).run_once().sent == len(SEQUENCE)

        counts = received(inbox)
        assert not duplicates(counts)
        assert counts[(victim, 1)] == 1 and counts[(victim, 2)] == 1
        rows = messages_of(campaign_id)
        assert len(rows) == 5 * len(SEQUENCE)
        assert {row.status for row in rows.values()} == {MessageStatus.SENT}
        lead = Lead.get(Lead.email == victim)
        assert (lead.status, lead.current_step, lead.attempts) == (LeadStatus.COMPLETED, 2, 0)
        assert Campaign.get_by_id(campaign_id).status == CampaignStatus.COMPLETED
