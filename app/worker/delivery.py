"""Sending one claimed message and recording what happened to it.

Just before the SMTP transaction the row moves ``claimed -> sending`` and that is
committed; a row is only ever resent if it never reached ``sending``. To save a commit
per mail, the move of the next claim shares its commit with this mail's ``sent``
record: this mail's SMTP transaction is over by then, and the next one's starts right
after.

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

from app import clock
from app.database import transaction
from app.lifecycle import (
    OPEN_LEAD_STATUSES,
    LeadStatus,
    MessageStatus,
    advance_lead,
    maybe_complete,
    pull_due,
)
from app.mail.mailers import LoginFailure, PermanentFailure, TemporaryFailure, Unconfirmed
from app.mail.templates import RenderError
from app.models import MAILBOX_ACTIVE, MAILBOX_ERROR, Lead, Mailbox, Message
from app.outbox import emit, lead_data
from app.services import outcomes
from app.worker.claims import ours, seconds, start
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
    now = clock.now()
    try:
        message, subject = composer.build(
            settings=claim.settings, sequence=claim.sequence, step_number=claim.step,
            lead=claim.lead, message_pk=claim.message_pk, message_id=claim.message_id,
            thread_ids=claim.thread_ids, sent_at=now)
    except RenderError as exc:
        return Delivery(_fail(claim, f"template error: {exc}"))
    except Exception as exc:  # noqa: BLE001 - poison data fails its own lead, not the pass
        return Delivery(_fail(claim, f"cannot compose the message: {_why(exc)}"))
    try:
        mailer.send(message, sender=claim.settings["from_email"], recipient=claim.lead.email)
    except LoginFailure as exc:
        return Delivery(_mailbox_fault(claim, str(exc)))
    except Unconfirmed as exc:
        # The server may have it: never sent again, the lead moves on.
        return Delivery(_unconfirmed(claim, str(exc)))
    except TemporaryFailure as exc:
        return Delivery(_retry(claim, str(exc)))
    except PermanentFailure as exc:
        if exc.bounce:
            return Delivery(_bounce(claim, str(exc)))
        return Delivery(_fail(claim, str(exc)))
    except Exception as exc:  # noqa: BLE001 - as above; nothing was accepted
        # The connection may be mid-transaction: the next message gets a fresh one.
        mailer.close()
        return Delivery(_fail(claim, f"cannot send the message: {_why(exc)}"))
    if stopping():
        following = None
    return Delivery("sent", _sent(claim, subject, following, lease))


def _why(exc):
    return f"{type(exc).__name__}: {exc}"


def _emit(claim, event_type, now, **extra):
    emit(claim.lead.workspace_id, event_type,
         lead_data(claim.lead, message_id=claim.message_pk, step=claim.step, **extra), now=now)


def _sent(claim, subject, following, lease):
    """Record ``claim`` sent and, in the same commit, start ``following`` (a claim or
    None). Returns whether ``following`` started."""
    now = clock.now()
    # A lead still open when this one completes means the campaign is not complete:
    # the next claim's lead usually is, and checking it is one row, not the campaign.
    open_lead = following.lead.id if following else None
    with transaction():
        in_time = (Message.update(status=MessageStatus.SENT, sent_at=now, subject=subject)
                   .where(ours(claim, MessageStatus.SENDING)).execute())
        if in_time:
            # The lead, then the campaign's counter and completion: the order in which
            # every path (an open, a reply) takes the two rows.
            _emit(claim, "message.sent", now)
            completed = advance_lead(claim.lead.id, claim.step, claim.sequence, now, sent=True,
                                     lead=claim.lead)
            outcomes.bump(claim.campaign_id, "sent_count")
            if completed:
                maybe_complete(claim.campaign_id, now, unless_open=open_lead)
        started = bool(following) and start(following, lease=lease)
    if not in_time:
        # Too late: the reaper made it unconfirmed and already moved the lead on
        # (maybe past later steps); advancing again would set the lead back.
        with transaction():
            # The row still turns sent (the server said so) and is counted: a receiver
            # hears of it too, once, since only one of the two updates can match.
            if (Message.update(status=MessageStatus.SENT, sent_at=now, subject=subject)
                    .where(ours(claim, MessageStatus.UNCONFIRMED)).execute()):
                outcomes.bump(claim.campaign_id, "sent_count")
                _emit(claim, "message.sent", now)
    return started


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
            return "failed"
        retry_at = now + seconds(60 * BACKOFF_MINUTES[attempts - 1])
        (Lead.update(attempts=attempts, last_error=error, next_send_at=retry_at)
         .where((Lead.id == claim.lead.id) & Lead.next_send_at.is_null()
                & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
        pull_due(claim.campaign_id, retry_at)
    log.warning("temporary failure for %s (attempt %d): %s", claim.message_pk, attempts, error)
    return "retried"


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


def _bounce(claim, error):
    now = clock.now()
    with transaction():
        if (Message.update(status=MessageStatus.BOUNCED, error=error)
                .where(ours(claim, MessageStatus.SENDING, MessageStatus.UNCONFIRMED))
                .execute()):
            _emit(claim, "message.bounced", now, error=error)
        outcomes.record_bounce(claim.lead, error=error, now=now)
    return "bounced"


def _fail(claim, error):
    now = clock.now()
    with transaction():
        if (Message.update(status=MessageStatus.FAILED, error=error)
                .where(ours(claim, MessageStatus.SENDING, MessageStatus.UNCONFIRMED))
                .execute()):
            _emit(claim, "message.failed", now, error=error)
        if outcomes.finish(claim.lead, LeadStatus.FAILED, now, error=error):
            maybe_complete(claim.campaign_id, now)
    return "failed"
