"""Sending claimed messages and recording what happened to them.

Just before the SMTP transaction the row moves ``claimed -> sending`` and that is
committed; a row is only ever resent if it never reached ``sending``. A campaign's
claims go out in rounds (``send_all``), each round at most one mail per SMTP session
(its mailbox's, or the relay's), all of a round's mails on the wire at once: the round
moves to ``sending`` in one commit, and its ``sent`` records share one commit with the
next round's move, written with a few set-based statements whatever the round's size.
So each ``sending`` row is a mail whose SMTP transaction has begun: a dispatcher that
dies leaves at most one such row per session (the reaper makes it ``unconfirmed``),
and every mail before it is recorded. Through the relay a round is one mail.

Whatever goes wrong with one message (its templates, its headers, its addresses, the
server's answer) is that message's outcome: its lead is retried or ends ``failed``
with the reason, and the pass goes on with the next claim.

The webhook events ``message.sent``, ``message.bounced`` and ``message.failed`` are
emitted where the message's row takes that status, in the same transaction, and only
when it did (a record that finds the row settled otherwise emits nothing).

A mailbox that cannot log in is the mailbox's fault, not the lead's: the mailbox turns
``error`` with the reason (``mailbox.error`` is emitted with it), and the lead waits,
due again and not failed, with no attempt counted, until the mailbox is resumed (or,
never mailed yet, another of the campaign's mailboxes takes it).
"""
import logging
from dataclasses import dataclass

from peewee import Case

from app import clock
from app.database import transaction
from app.lifecycle import (
    OPEN_LEAD_STATUSES,
    LeadStatus,
    MessageStatus,
    advance_leads,
    maybe_complete,
    pull_due,
    pull_workspace,
)
from app.mail.mailers import LoginFailure, PermanentFailure, TemporaryFailure, Unconfirmed
from app.mail.templates import RenderError
from app.models import MAILBOX_ACTIVE, MAILBOX_ERROR, Lead, Mailbox, Message
from app.outbox import emit, emit_many, lead_data
from app.services import outcomes
from app.worker.claims import ours, release, seconds, start_many
from app.worker.reaper import unconfirm

log = logging.getLogger("app.dispatcher")

MAX_ATTEMPTS = 5
# Waits before attempts 2..5; the fifth temporary failure fails the lead.
BACKOFF_MINUTES = (1, 5, 15, 60)


@dataclass(frozen=True)
class Delivery:
    """One message's outcome ("sent", "retried", "bounced", "failed" or "unconfirmed"),
    and whether the next claim moved to ``sending`` in the same commit as this one's
    record."""

    outcome: str
    next_started: bool = False


def deliver(claim, *, mailer, composer, lease, following=None, stopping=lambda: False):
    """Send one message already ``sending``, and record its outcome.

    ``following``, the claim to send next (or None), is started (``claimed ->
    sending``, leased for ``lease``) in the commit of this mail's ``sent`` record,
    unless ``stopping`` (a callable) says the pass is ending by then.
    """
    attempt = prepare(claim, composer)
    if attempt.message is not None:
        attempt.send(mailer)
    if stopping():
        following = None
    outcomes_, started = settle([attempt], following=[following] if following else [],
                                lease=lease)
    return Delivery(outcomes_[0], bool(started))


# At most this many mails on the wire at once, each over its own SMTP session.
ROUND = 16


def rounds(claims):
    """``claims`` in rounds, in their order: a round holds at most one claim per SMTP
    session (its mailbox's, or the relay's) and at most ROUND."""
    by_turn, turns = [], {}
    for claim in claims:
        key = claim.mailbox.id if claim.mailbox is not None else None
        turn = turns[key] = turns.get(key, -1) + 1
        if turn == len(by_turn):
            by_turn.append([])
        by_turn[turn].append(claim)
    return [turn[i:i + ROUND] for turn in by_turn for i in range(0, len(turn), ROUND)]


def send_all(claims, *, transports, composer, lease, pool, stopping=lambda: False):
    """Send one campaign's ``claims`` round by round (``rounds``), yielding each claim's
    outcome ("released" for one given back unattempted).

    A round's claims move to ``sending`` in one commit and then all go out at once, one
    thread of ``pool`` per session, so each ``sending`` row is a mail on the wire (a
    dispatcher that dies leaves at most one per session unconfirmed). While they are,
    the next round is composed; the round's ``sent`` records then share one commit with
    the next round's start. Once ``stopping``, no round starts: the rest are given back.
    """
    queue = rounds(claims)
    going, turn = [], 0
    following = queue[0] if queue else []
    attempts = [prepare(claim, composer) for claim in following]
    while True:
        stop = stopping()
        outcomes_, started = settle(going, following=[] if stop else following, lease=lease)
        yield from outcomes_
        if stop:
            for claim in (c for later in queue[turn:] for c in later):
                release(claim)
                yield "released"
            return
        if not following:
            return
        for attempt in attempts:
            if attempt.claim.message_pk not in started:
                release(attempt.claim)  # paused meanwhile, or the lease was lost
                yield "released"
        going = [a for a in attempts if a.claim.message_pk in started]
        on_wire = [a for a in going if a.message is not None]
        futures = []
        if len(on_wire) > 1:
            futures = [pool.submit(a.send, transports.for_claim(a.claim)) for a in on_wire]
        elif on_wire:
            on_wire[0].send(transports.for_claim(on_wire[0].claim))
        turn += 1
        following = queue[turn] if turn < len(queue) else []
        attempts = [prepare(claim, composer) for claim in following]
        for future in futures:
            future.result()


class Attempt:
    """One claim's mail: composed (``message``, ``subject``) or not (``error``, why),
    then handed to its mailer (``failure``: what it raised, None once accepted)."""

    def __init__(self, claim):
        self.claim = claim
        self.message = self.subject = self.error = self.failure = None

    def send(self, mailer):
        claim = self.claim
        try:
            mailer.send(self.message, sender=claim.settings["from_email"],
                        recipient=claim.lead.email)
        except Exception as exc:  # noqa: BLE001 - classified by settle, one by one
            if not isinstance(exc, (LoginFailure, Unconfirmed, TemporaryFailure,
                                    PermanentFailure)):
                # The connection may be mid-transaction: the next message gets a fresh one.
                mailer.close()
            self.failure = exc
        return self


def prepare(claim, composer):
    """The Attempt of ``claim``, composed (its Date is now)."""
    attempt = Attempt(claim)
    try:
        attempt.message, attempt.subject = composer.build(
            settings=claim.settings, sequence=claim.sequence, step_number=claim.step,
            lead=claim.lead, message_pk=claim.message_pk, message_id=claim.message_id,
            thread_ids=claim.thread_ids, sent_at=clock.now())
    except RenderError as exc:
        attempt.error = f"template error: {exc}"
    except Exception as exc:  # noqa: BLE001 - poison data fails its own lead, not the pass
        attempt.error = f"cannot compose the message: {_why(exc)}"
    return attempt


def settle(attempts, *, following, lease):
    """Record what happened to ``attempts`` (sent, or composed and refused by nothing:
    one campaign's, each already ``sending`` and tried) and start ``following`` (claims
    of the same campaign) in one commit with the ``sent`` records. The other outcomes
    follow, each in its own transaction. Returns (outcome per attempt, the Message ids
    of ``following`` that started)."""
    sent = [a for a in attempts if a.message is not None and a.failure is None]
    with transaction():
        _sent(sent, open_lead=following[0].lead.id if following else None)
        started = start_many(following, lease=lease)
    return [_outcome(a) for a in attempts], started


def _outcome(attempt):
    claim, exc = attempt.claim, attempt.failure
    if attempt.message is None:
        return _fail(claim, attempt.error)
    if exc is None:
        return "sent"
    if isinstance(exc, LoginFailure):
        return _mailbox_fault(claim, str(exc))
    if isinstance(exc, Unconfirmed):
        # The server may have it: never sent again, the lead moves on.
        return _unconfirmed(claim, str(exc))
    if isinstance(exc, TemporaryFailure):
        return _retry(claim, str(exc))
    if isinstance(exc, PermanentFailure):
        return _bounce(claim, str(exc)) if exc.bounce else _fail(claim, str(exc))
    return _fail(claim, f"cannot send the message: {_why(exc)}")


def _why(exc):
    return f"{type(exc).__name__}: {exc}"


def _emit(claim, event_type, now, **extra):
    emit(claim.lead.workspace_id, event_type, _event_data(claim, **extra), now=now)


def _event_data(claim, **extra):
    return lead_data(claim.lead, message_id=claim.message_pk, step=claim.step, **extra)


def _sent(sent, *, open_lead):
    """Record the ``sent`` attempts (one campaign's): their rows, their leads' next
    steps, the campaign's counter and completion, and their events, in a few
    statements whatever their number. ``open_lead``: a lead of the campaign probably
    still open (maybe_complete)."""
    if not sent:
        return
    now = clock.now()
    claims = {a.claim.message_pk: a.claim for a in sent}
    campaign_id, sequence = sent[0].claim.campaign_id, sent[0].claim.sequence
    subjects = Case(Message.id, [(a.claim.message_pk, a.subject) for a in sent])
    tokens = {claim.token for claim in claims.values()}

    def settle_rows(status):
        return {pk for (pk,) in (
            Message.update(status=MessageStatus.SENT, sent_at=now, subject=subjects)
            .where(Message.id.in_(list(claims)) & Message.claim_token.in_(tokens)
                   & (Message.status == status))
            .returning(Message.id).tuples().execute())}

    in_time = settle_rows(MessageStatus.SENDING)
    # Too late for the rest: the reaper made them unconfirmed and already moved their
    # leads on (maybe past later steps); advancing again would set a lead back. The
    # row still turns sent (the server said so) and is counted, and a receiver hears
    # of it too, once, since only one of the two updates can match.
    late = settle_rows(MessageStatus.UNCONFIRMED) if len(in_time) < len(claims) else set()
    events = [("message.sent", _event_data(claims[pk])) for pk in claims
              if pk in in_time or pk in late]
    # The leads, then the campaign's counter and completion: the order in which every
    # path (an open, a reply) takes the two rows.
    completed = advance_leads([(claims[pk].lead, claims[pk].step) for pk in claims
                               if pk in in_time], sequence, now, sent=True, events=events)
    if events:
        emit_many(sent[0].claim.lead.workspace_id, events, now=now)
        outcomes.bump(campaign_id, "sent_count", len(in_time) + len(late))
    if completed:
        # A lead still open when these complete means the campaign is not complete: the
        # next claim's lead usually is, and checking it is one row, not the campaign.
        maybe_complete(campaign_id, now, unless_open=open_lead)


def _retry(claim, error):
    now = clock.now()
    with transaction():
        if not Message.delete().where(ours(claim, MessageStatus.SENDING)).execute():
            _give_up_unconfirmed(claim, error, now)
            return "failed"
        attempts = claim.lead.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            # The last attempt's row is gone (deleted above, as every temporary
            # failure's is); the event still names it, as the mail that failed.
            if outcomes.finish(claim.lead, LeadStatus.FAILED, now, error=error):
                _emit(claim, "message.failed", now, error=error)
                maybe_complete(claim.campaign_id, now)
        else:
            retry_at = now + seconds(60 * BACKOFF_MINUTES[attempts - 1])
            (Lead.update(attempts=attempts, last_error=error, next_send_at=retry_at)
             .where((Lead.id == claim.lead.id) & Lead.next_send_at.is_null()
                    & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
        # The row is gone and counts against no limit: another due lead may go now
        # (after the lead's row, the order every path takes the two).
        pull_due(claim.campaign_id, now)
    _room_back(claim.mailbox, now)
    if attempts >= MAX_ATTEMPTS:
        return "failed"
    log.warning("temporary failure for %s (attempt %d): %s", claim.message_pk, attempts, error)
    return "retried"


def _room_back(mailbox, now):
    """A row of ``mailbox``'s day went without a mail: its other campaigns may send."""
    if mailbox is not None:
        pull_workspace(mailbox.workspace_id, now)


def _mailbox_fault(claim, error):
    """The claim's mailbox could not log in: nothing was sent. The row goes (it counts
    against no cap), the lead is due again (it waits while its mailbox is in error) and
    the mailbox turns ``error``, once, with ``mailbox.error``."""
    now = clock.now()
    mailbox = claim.mailbox
    with transaction():
        if not Message.delete().where(ours(claim, MessageStatus.SENDING)).execute():
            _give_up_unconfirmed(claim, error, now)
            return "failed"
        if (Lead.update(next_send_at=now, last_error=error)
                .where((Lead.id == claim.lead.id) & Lead.next_send_at.is_null()
                       & Lead.status.in_(OPEN_LEAD_STATUSES)).execute()):
            pull_due(claim.campaign_id, now)  # another of its mailboxes may take it
        if (Mailbox.update(status=MAILBOX_ERROR, last_error=error, updated_at=now)
                .where((Mailbox.id == mailbox.id) & (Mailbox.status == MAILBOX_ACTIVE))
                .execute()):
            emit(mailbox.workspace_id, "mailbox.error",
                 {"mailbox_id": mailbox.id, "email": mailbox.email, "error": error}, now=now)
            log.warning("mailbox %s cannot log in, now in error: %s", mailbox.id, error)
    return "waiting"


def _give_up_unconfirmed(claim, error, now):
    """Too late (unconfirmed, the lead moved on): not delivered, not retried."""
    if (Message.update(status=MessageStatus.FAILED, error=error)
            .where(ours(claim, MessageStatus.UNCONFIRMED)).execute()):
        _emit(claim, "message.failed", now, error=error)


def _unconfirmed(claim, error):
    with transaction():
        unconfirm(ours(claim, MessageStatus.SENDING), message_id=claim.message_pk,
                  lead_id=claim.lead.id, step=claim.step, sequence=claim.sequence,
                  campaign_id=claim.campaign_id, now=clock.now(), error=error,
                  lead=claim.lead)
    return "unconfirmed"


def _ended(claim, status, error, end_lead):
    """The row ends ``status`` (bounced or failed; from ``sending``, or ``unconfirmed``
    meanwhile) with its ``message.<status>`` event, and ``end_lead(now)`` ends the
    lead, in one transaction."""
    now = clock.now()
    with transaction():
        if (Message.update(status=status, error=error)
                .where(ours(claim, MessageStatus.SENDING, MessageStatus.UNCONFIRMED))
                .execute()):
            _emit(claim, f"message.{status}", now, error=error)
        end_lead(now)


def _bounce(claim, error):
    _ended(claim, MessageStatus.BOUNCED, error,
           lambda now: outcomes.record_bounce(claim.lead, error=error, now=now))
    return "bounced"


def _fail(claim, error):
    def end_lead(now):
        if outcomes.finish(claim.lead, LeadStatus.FAILED, now, error=error):
            maybe_complete(claim.campaign_id, now)

    _ended(claim, MessageStatus.FAILED, error, end_lead)
    return "failed"
