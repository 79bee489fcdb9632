"""Turn a (lead, step) into a MIME message: headers, threading, text and HTML parts.

The bytes come from one of two writers. The email package handles everything (encoded
words for non-ASCII names and subjects, quoting, folding, 8bit or quoted-printable
bodies) but costs more CPU than the rest of sending a mail. Most mail is plain ASCII
with short lines, where its output is a fixed layout: ``_plain_bytes`` writes that
layout directly, byte for byte what the email package writes for the same input, and
says None for anything else, which the email package then writes.
"""
import datetime as dt
import html
import random
import re
import sys
from dataclasses import dataclass
from email import policy
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache
from io import BytesIO

from app.mail import templates, tokens

# A link ends before white space or markup, and never on the punctuation that closes the
# sentence around it ("see https://example.com/pricing." links to .../pricing).
URL = re.compile(r"https?://[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]")
# Long unbreakable header values (List-Unsubscribe URLs) must stay as they are, not be
# folded into encoded words: allow lines up to SMTP's own limit.
POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: its Message-ID and its bytes (CRLF line ends)."""

    message_id: str
    data: bytes


@dataclass(frozen=True)
class Parts:
    """Everything a message says, before either writer turns it into bytes."""

    sender: str
    from_name: str
    recipient: str
    to_name: str
    reply_to: str | None
    subject: str
    date: str
    message_id: str
    thread_ids: tuple
    unsubscribe: str
    text: str
    html: str


@lru_cache(maxsize=1024)
def _header(name, value):
    """A parsed header, kept for the values every message of a campaign repeats: parsing
    a header costs more than the rest of setting it, and header objects are immutable."""
    return POLICY.header_factory(name, value)


def ascii_address(address):
    """``address`` as SMTP without SMTPUTF8 carries it: the domain in its IDNA form
    (``exämple.com`` -> ``xn--exmple-cua.com``). ValueError when it cannot be: non-ASCII
    before the @ needs SMTPUTF8, which neither this mailer nor many servers speak."""
    local, at, domain = (address or "").rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"'{address}' is not an email address.")
    if not local.isascii():
        raise ValueError(f"'{address}' has non-ASCII characters before the @ and cannot "
                         "be mailed.")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"'{address}' has a domain that is not a valid "
                             "international domain name.") from exc
    return f"{local}@{domain}"


def message_id_for(message_pk, from_email):
    try:
        domain = ascii_address(from_email).rsplit("@", 1)[-1]
    except ValueError:
        domain = "localhost"
    return f"<{message_pk}@{domain}>"


def subject_for(sequence, step_number, variables):
    """The step's own subject, or "Re: " + step 1's when the step leaves it empty."""
    own = sequence[step_number - 1].get("subject") or ""
    if own.strip():
        return templates.render(own, variables)
    first = templates.render(sequence[0].get("subject") or "", variables)
    return first if first.lower().startswith("re:") else f"Re: {first}"


class Composer:
    def __init__(self, *, base_url, secret):
        self.base_url = base_url.rstrip("/")
        self.secret = secret

    def unsubscribe_url(self, lead):
        # The address and its workspace ride along, so the link still works after the
        # lead (or its campaign) is deleted: an unsubscribe must outlive both.
        payload = [lead.id, lead.workspace_id, lead.email]
        return f"{self.base_url}/u/{tokens.sign(self.secret, 'unsubscribe', payload)}"

    def _click_url(self, message_pk, url):
        return f"{self.base_url}/t/c/{tokens.sign(self.secret, 'click', [message_pk, url])}"

    def _pixel_url(self, message_pk):
        return f"{self.base_url}/t/o/{tokens.sign(self.secret, 'open', message_pk)}.gif"

    def build(self, **inputs):
        """(Outgoing, subject), from the same keyword arguments as ``parts``."""
        parts, subject = self.parts(**inputs)
        data = _plain_bytes(parts)
        if data is None:
            data = _package_bytes(parts)
        return Outgoing(parts.message_id, data), subject

    def parts(self, *, settings, sequence, step_number, lead, message_pk, message_id,
              thread_ids, sent_at):
        """(Parts, subject) for ``lead`` at ``step_number``. Raises RenderError."""
        variables = lead.variables()
        step = sequence[step_number - 1]
        subject = subject_for(sequence, step_number, variables)
        text = templates.render(step.get("body") or "", variables)
        unsubscribe = self.unsubscribe_url(lead)

        try:
            sender = ascii_address(settings["from_email"])
            recipient = ascii_address(lead.email)
            reply_to = ascii_address(settings["reply_to"]) if settings.get("reply_to") else None
        except ValueError as exc:
            raise templates.RenderError(str(exc)) from exc

        full_name = " ".join(p for p in (lead.first_name, lead.last_name) if p)
        parts = Parts(
            sender=sender, from_name=settings.get("from_name") or "", recipient=recipient,
            to_name=full_name, reply_to=reply_to,
            subject=subject.replace("\r", " ").replace("\n", " "),
            date=format_datetime(sent_at.replace(tzinfo=dt.UTC)), message_id=message_id,
            thread_ids=tuple(thread_ids or ()), unsubscribe=unsubscribe,
            text=f"{text}\n\n--\nUnsubscribe: {unsubscribe}\n",
            html=self._html(text, message_pk, settings, unsubscribe))
        return parts, subject

    def _html(self, text, message_pk, settings, unsubscribe):
        track_clicks = settings.get("track_clicks")

        def link(match):
            url = match.group(0)
            target = self._click_url(message_pk, html.unescape(url)) if track_clicks else url
            return f'<a href="{html.escape(target, quote=True)}">{url}</a>'

        escaped = html.escape(text, quote=False)
        linked = URL.sub(link, escaped)
        paragraphs = "".join(f"<p>{block.replace(chr(10), '<br>')}</p>"
                             for block in linked.split("\n\n") if block.strip())
        pixel = (f'<img src="{self._pixel_url(message_pk)}" width="1" height="1" alt="" '
                 f'style="display:none">' if settings.get("track_opens") else "")
        footer = (f'<p style="font-size:12px;color:#888"><a href="{html.escape(unsubscribe)}">'
                  f"Unsubscribe</a></p>")
        return f"<!doctype html><html><body>{paragraphs}{footer}{pixel}</body></html>\n"


def email_message(parts):
    """``parts`` as an EmailMessage (the email package's writer)."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = _header("From", formataddr((parts.from_name, parts.sender)))
    msg["To"] = Address(display_name=parts.to_name, addr_spec=parts.recipient)
    if parts.reply_to:
        msg["Reply-To"] = _header("Reply-To", parts.reply_to)
    msg["Subject"] = parts.subject
    msg["Date"] = parts.date
    msg["Message-ID"] = parts.message_id
    if parts.thread_ids:
        msg["In-Reply-To"] = parts.thread_ids[-1]
        msg["References"] = " ".join(parts.thread_ids)
    msg["List-Unsubscribe"] = f"<{parts.unsubscribe}>"
    msg["List-Unsubscribe-Post"] = _header("List-Unsubscribe-Post",
                                           "List-Unsubscribe=One-Click")
    msg.set_content(parts.text)
    msg.add_alternative(parts.html, subtype="html")
    return msg


def _package_bytes(parts):
    """What smtplib's send_message would put on the wire for ``email_message(parts)``."""
    out = BytesIO()
    BytesGenerator(out).flatten(email_message(parts), linesep="\r\n")
    return out.getvalue()


# ---- the plain ASCII writer ------------------------------------------------------------

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# Names and addresses the email package writes as they are: no quoting, no encoding.
_PHRASE = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")
_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
# Unstructured values written as they are: printable ASCII and tabs, no encoded word.
_PLAIN_VALUE = re.compile(r"[\t\x20-\x7e]*")
# Below the policy's 998 with room to spare: a longer line would be folded.
_MAX_HEADER_LINE = 900
_CONTENT_HEADERS = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n'


def _mailbox(name, address):
    """``name <address>`` as the email package writes it, or None when it would quote or
    encode something."""
    if not _ADDRESS.fullmatch(address):
        return None
    if not name:
        return address
    if "=?" in name or not _PHRASE.fullmatch(name):
        return None
    return f"{name} <{address}>"


def _plain(value):
    return "=?" not in value and _PLAIN_VALUE.fullmatch(value) is not None


def _body(text):
    """A text part's body as the email package writes it in 7bit (CRLF line ends), or
    None when it would pick another encoding (non-ASCII, or a line over 998 bytes)."""
    if not text.isascii():
        return None
    lines = text.encode("ascii").splitlines()
    if max(map(len, lines), default=0) > POLICY.max_line_length:
        return None
    return b"\r\n".join(lines) + b"\r\n"


def _boundary(*bodies):
    # The email package's shape of boundary; one that occurs in a body is never used.
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):019d}=="
        marker = b"--" + boundary.encode("ascii")
        if not any(marker in body for body in bodies):
            return boundary


def _plain_bytes(parts):
    """The message's bytes when every part is plain ASCII, else None."""
    sender = _mailbox(parts.from_name, parts.sender)
    recipient = _mailbox(parts.to_name, parts.recipient)
    if sender is None or recipient is None:
        return None
    headers = [("From", sender), ("To", recipient)]
    if parts.reply_to:
        if not _ADDRESS.fullmatch(parts.reply_to):
            return None
        headers.append(("Reply-To", parts.reply_to))
    headers += [("Subject", parts.subject), ("Date", parts.date),
                ("Message-ID", parts.message_id)]
    if parts.thread_ids:
        headers += [("In-Reply-To", parts.thread_ids[-1]),
                    ("References", " ".join(parts.thread_ids))]
    headers += [("List-Unsubscribe", f"<{parts.unsubscribe}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    lines = []
    for name, value in headers:
        if not _plain(value):
            return None
        line = f"{name}: {value}" if value else f"{name}:"
        if len(line) > _MAX_HEADER_LINE:
            return None
        lines.append(line)
    text, markup = _body(parts.text), _body(parts.html)
    if text is None or markup is None:
        return None
    boundary = _boundary(text, markup)
    head = "\r\n".join(lines) + (
        "\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n{_CONTENT_HEADERS.format('plain')}\r\n")
    # The email package gives the added HTML part a MIME-Version header of its own.
    middle = (f"\r\n--{boundary}\r\n{_CONTENT_HEADERS.format('html')}"
              "MIME-Version: 1.0\r\n\r\n")
    return b"".join((head.encode("ascii"), text, middle.encode("ascii"), markup,
                     f"\r\n--{boundary}--\r\n".encode("ascii")))
