"""Inbound mail (a provider's inbound route posting the raw RFC 822 message).

Nothing in an inbound message can be trusted: anyone can post mail to the route's
address, quote a Message-ID they saw, or write a text that looks like a bounce. So:

- A reply counts only when it references a message we sent and comes from that
  message's lead: the lead's own address, or an address at the lead's domain (a
  colleague answering). An automatic reply from such a sender is recognised as one.
- A bounce counts only from a delivery status notification (RFC 3464): a
  ``multipart/report; report-type=delivery-status`` whose returned message (its headers)
  carries the Message-ID of a message we sent to the lead, and whose per-recipient
  block says ``Action: failed`` with a 5.x.x ``Status`` for the lead's address.
- Mail read from a tenant's mailbox over IMAP can only answer or bounce mail sent from
  that very mailbox (``receive``'s ``mailbox_id``).
- Anything else, and anything the parser cannot read, is accepted and ignored, so the
  provider does not retry it; nothing changes.
"""
import logging
import re
from dataclasses import dataclass
from email.errors import MessageError
from email.parser import BytesParser
from email.policy import EmailPolicy

from app.database import transaction
from app.lifecycle import MessageStatus
from app.models import Campaign, Lead, Message
from app.outbox import emit, lead_data
from app.services import outcomes

log = logging.getLogger(__name__)

MSGID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
# A Message-ID we look up: at most this many per message, each at most the column's size.
MAX_REFERENCES = 50
MAX_MSGID_LENGTH = 255
# The parser nests one level (a recursive call, and a generator every line of the rest
# passes through) per container part, so a few thousand nested multiparts cost seconds
# and then a RecursionError. Real mail nests a handful of levels (report > returned
# message > mixed > alternative > related); more than this many containers is not mail.
MAX_CONTAINERS = 64
# Every container part (multipart/* or message/*) needs a Content-Type header naming
# one, so counting them in the raw bytes (folded or not, anywhere, over-counting text
# that merely looks like one) bounds the nesting before the parser is run at all.
CONTAINER = re.compile(rb"^content-type:\s*(?:multipart|message)/", re.I | re.M)
# Each part costs the parser a message object: a megabyte of empty parts takes seconds.
# Every part starts on a delimiter line, "--" and the boundary; counting the lines that
# start with "--" (signatures and rulers too) bounds them with room for real mail.
MAX_DELIMITERS = 1000
# The header parser's cost grows faster than a header's length (an address list of a
# megabyte takes half a minute, a subject of encoded words more memory than a worker
# has): a header is read only up to this size. Real ones are far shorter; References
# keeps its end, the most recent ids.
MAX_HEADER_CHARS = 16 * 1024
# At most this many per-recipient blocks of a report are read (ours name one).
MAX_REPORT_BLOCKS = 100
# What the email package raises on input it cannot make sense of (policy.default parses
# headers lazily, when they are read): a malformed message is ignored, never a 500.
UNREADABLE = (MessageError, RecursionError, LookupError, ValueError, TypeError)
# Statuses of a message that may have left: a reply or a bounce can only be to these
# (a claimed row was never attempted; a failed or refused one never delivered).
MAILED = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.UNCONFIRMED)
STATUS_PERMANENT = re.compile(r"5\.\d{1,3}\.\d{1,3}")
AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|"
    r"abwesenheit|r[ée]ponse automatique|respuesta autom[aá]tica|"
    r"away from (the )?office|on vacation|vacation reply)", re.I)

IGNORED = {"outcome": "ignored", "lead_id": None}


@dataclass(frozen=True)
class Report:
    """What a delivery status notification says, read from its structured parts."""
    returned_ids: tuple  # the Message-IDs of the returned message (normally one)
    failed: frozenset    # addresses (casefolded) with Action: failed and a 5.x.x status


@dataclass(frozen=True)
class Reading:
    """What an inbound message says, read before any lead is looked up."""
    report: Report | None  # for a delivery status notification (failed or not)
    references: tuple      # Message-IDs it answers, most recent first
    senders: tuple         # the From mailboxes as (local part, domain)
    auto: bool


class HeaderTooLong(ValueError):
    pass


class BoundedPolicy(EmailPolicy):
    """policy.default, except that a header longer than MAX_HEADER_CHARS is not parsed
    (header_fetch_parse is the documented hook, called as each header is read)."""

    def header_fetch_parse(self, name, value):
        if len(value) > MAX_HEADER_CHARS:
            if name.lower() != "references":
                raise HeaderTooLong(f"{name} header of {len(value)} characters")
            value = value[-MAX_HEADER_CHARS:]
        return super().header_fetch_parse(name, value)


POLICY = BoundedPolicy()


def _parse(raw):
    if (len(CONTAINER.findall(raw)) > MAX_CONTAINERS
            or raw.count(b"\n--") > MAX_DELIMITERS):
        return None
    return BytesParser(policy=POLICY).parsebytes(raw)


def is_auto_reply(msg):
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Autoresponder"):
        return True
    if (msg.get("Precedence") or "").strip().lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    if (msg.get("X-Auto-Response-Suppress") or "").strip().lower() in ("oof", "all"):
        return True
    return bool(AUTO_SUBJECT.match(str(msg.get("Subject") or "")))


def _ids(text):
    """The Message-IDs in a header value we could have written: printable ASCII, bounded
    (anything else is no id of ours, and could not be sent to the database as text)."""
    return [found for found in MSGID.findall(text)
            if found.isascii() and found.isprintable() and len(found) <= MAX_MSGID_LENGTH]


def _utf8(text):
    """``text`` with the raw 8-bit bytes BytesParser keeps as surrogate escapes read as
    UTF-8, as RFC 6532 writes addresses in headers (kept as it is when they are not)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return text


def _senders(msg):
    return tuple((_utf8(address.username), _utf8(address.domain))
                 for header in msg.get_all("From") or []
                 for address in getattr(header, "addresses", ()))


def _recipient(value):
    """The address of a ``Final-Recipient: rfc822; addr`` field, or None."""
    kind, _, address = str(value or "").partition(";")
    if kind.strip().lower() != "rfc822":
        return None
    return address.strip().strip("<>").strip().casefold() or None


def _report(msg):
    """For a delivery status notification: its Report (RFC 3464, RFC 6522).

    Only the report's own parts are read: the delivery-status part (one block of fields
    per message, then one per recipient) and the returned message, whole
    (message/rfc822) or its headers alone (text/rfc822-headers).
    """
    returned, failed = [], set()
    for part in msg.iter_parts():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks[:MAX_REPORT_BLOCKS] if isinstance(blocks, list) else ():
                address = _recipient(block.get("Final-Recipient"))
                action = str(block.get("Action") or "").strip().lower()
                status = str(block.get("Status") or "").split()
                if (address and action == "failed" and status
                        and STATUS_PERMANENT.fullmatch(status[0])):
                    failed.add(address)
        elif kind in ("message/rfc822", "text/rfc822-headers"):
            if kind == "text/rfc822-headers":
                # Headers are bytes, whatever charset the part claims (RFC 6532: UTF-8).
                original = BytesParser(policy=POLICY).parsebytes(
                    part.get_payload(decode=True) or b"", headersonly=True)
            else:
                original = part.get_content()
            returned.extend(_ids(str(original.get("Message-ID") or ""))[:1])
    return Report(tuple(dict.fromkeys(returned))[:2], frozenset(failed))


def read(raw):
    """The parts of ``raw`` that matter, or None when it is no mail we can read."""
    try:
        msg = _parse(raw)
        if msg is None:
            return None
        is_report = (msg.get_content_type() == "multipart/report"
                     and (msg.get_param("report-type") or "").lower() == "delivery-status")
        if is_report:
            return Reading(_report(msg), (), (), False)
        refs = _ids(f"{msg.get('In-Reply-To') or ''} {msg.get('References') or ''}")
        # In-Reply-To names the message answered; References ends with it: the last
        # ones are the most recent.
        refs = tuple(dict.fromkeys(reversed(refs)))[:MAX_REFERENCES]
        return Reading(None, refs, _senders(msg), is_auto_reply(msg))
    except UNREADABLE as exc:
        log.info("inbound message ignored: unreadable (%s)", type(exc).__name__)
        return None


def _domain(domain):
    """A domain as compared: case-folded, and in its ASCII (IDNA) form when it has one,
    so a reply from ``xn--...`` matches a lead written in Unicode and the other way."""
    domain = domain.strip().rstrip(".").casefold()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def from_lead(senders, lead_email):
    """Whether every From mailbox (and there is one) is the lead's address, or an
    address at the lead's domain (the part after its last @)."""
    domain = _domain(lead_email.rpartition("@")[2])

    def theirs(local, sender_domain):
        return bool(sender_domain) and (
            f"{local}@{sender_domain}".casefold() == lead_email.casefold()
            or _domain(sender_domain) == domain)
    return bool(senders) and all(theirs(*sender) for sender in senders)


def _mailed(ids, workspace_id=None, mailbox_id=None):
    """The messages (with lead and campaign) that ``ids`` name and that may have left,
    the latest step first; only the workspace's when ``workspace_id`` is given, and only
    those sent from the mailbox when ``mailbox_id`` is."""
    if not ids:
        return []
    query = (Message.select(Message, Lead, Campaign)
             .join(Lead, on=(Message.lead == Lead.id))
             .switch(Message).join(Campaign, on=(Message.campaign == Campaign.id))
             .where(Message.message_id.in_(list(ids)) & Message.status.in_(MAILED)))
    if workspace_id is not None:
        query = query.where(Campaign.workspace == workspace_id)
    if mailbox_id is not None:
        query = query.where(Message.mailbox == mailbox_id)
    return list(query.order_by(Message.step.desc()))


def _bounce(report, workspace_id, mailbox_id):
    for message in _mailed(report.returned_ids, workspace_id, mailbox_id):
        if message.lead.email.casefold() in report.failed:
            error = "bounced (delivery status notification)"
            with transaction():
                # As a refusal at send time: the message turns bounced, and
                # message.bounced is emitted once, when it does.
                if (Message.update(status=MessageStatus.BOUNCED, error=error)
                        .where((Message.id == message.id) & Message.status.in_(MAILED))
                        .execute()):
                    emit(message.lead.workspace_id, "message.bounced",
                         lead_data(message.lead, message_id=message.id, step=message.step,
                                   error=error))
                outcomes.record_bounce(message.lead, error=error)
            return {"outcome": "bounce", "lead_id": message.lead.id}
    return IGNORED


def receive(raw, *, workspace_id=None, mailbox_id=None):
    """Process one inbound message; returns {"outcome": ..., "lead_id": ...}.

    ``workspace_id``: the message was read from a mailbox of that workspace (IMAP), and
    may only answer or bounce that workspace's mail: its content is the mailbox owner's
    to write, so it must never reach another tenant's leads. ``mailbox_id``: that
    mailbox, and it may only answer or bounce mail sent from it, never mail of another
    mailbox of the workspace, nor mail that went through the operator's relay (its
    answers come back through the inbound route). Without either (the inbound route)
    any mail we sent may be answered."""
    reading = read(raw)
    if reading is None:
        return IGNORED
    if reading.report is not None:
        return _bounce(reading.report, workspace_id, mailbox_id)
    answered = [message for message in _mailed(reading.references, workspace_id, mailbox_id)
                if from_lead(reading.senders, message.lead.email)]
    if not answered:
        return IGNORED
    message = answered[0]
    if reading.auto:
        return {"outcome": "auto_reply", "lead_id": message.lead.id}
    stop = bool(message.campaign.settings.get("stop_on_reply", True))
    with transaction():
        outcomes.record_reply(message.lead, stop=stop, message=message)
    return {"outcome": "reply", "lead_id": message.lead.id}
