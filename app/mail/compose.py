"""Turn a (lead, step) into a MIME message: headers, threading, text and HTML parts.

Every message is written by the email package's own generator. Its ``compat32`` model
(``email.mime``) is used, not the header registry of ``email.policy.SMTP``: parsing and
refolding each header value it was just given was most of the time a mail took, and
every value here is already known to be one line. So the package's quoting and encoded
words are asked for where they are needed (``formataddr`` for names, ``Header`` for a
subject that is not plain ASCII), and the one check that policy made, no line break in
a header value, is made here on every value.
"""
import datetime as dt
import functools
import html
import re
import secrets
from dataclasses import dataclass
from email import policy
from email.charset import BASE64, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.headerregistry import Address
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from io import BytesIO

from app.mail import templates, tokens

# A link ends before white space or markup, and never on the punctuation that closes the
# sentence around it ("see https://example.com/pricing." links to .../pricing).
URL = re.compile(r"https?://[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]")
# Long unbreakable header values (List-Unsubscribe URLs) must stay as they are, not be
# folded into encoded words: allow lines up to SMTP's own limit.
MAX_LINE = 998


class WirePolicy(policy.Compat32):
    """compat32 with CRLF line ends and SMTP's line limit. A header value that is ASCII
    and fits on its line is written as it is; compat32 would build a Header object for
    it to find that out. Any other value goes the package's own way."""

    def fold_binary(self, name, value):
        if (isinstance(value, str) and value.isascii()
                and len(name) + 2 + len(value) <= self.max_line_length):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


POLICY = WirePolicy(linesep="\r\n", max_line_length=MAX_LINE)
# A body whose lines fit goes as it is (7bit, or 8bit when not ASCII); a longer line is
# base64 (the email package's C-speed encoder).
AS_IS, WRAPPED = Charset("utf-8"), Charset("utf-8")
AS_IS.body_encoding, WRAPPED.body_encoding = None, BASE64
# Random bytes in a Message-ID's left part: 18 bytes, 144 bits, 24 characters.
MESSAGE_ID_BYTES = 18


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
    """A new Message-ID, ``<24 URL-safe base64 characters@sender's domain>``.

    144 random bits and nothing else: a recipient who sees one cannot guess another
    (a reply or bounce naming it proves it saw that mail). ``message_pk`` is not part of
    it, since the row's id is ordered by time; the id is kept on the row instead.
    """
    try:
        domain = ascii_address(from_email).rsplit("@", 1)[-1]
    except ValueError:
        domain = "localhost"
    return f"<{secrets.token_urlsafe(MESSAGE_ID_BYTES)}@{domain}>"


def subject_for(sequence, step_number, variables, budget=None):
    """The step's own subject, or "Re: " + step 1's when the step leaves it empty."""
    own = sequence[step_number - 1].get("subject") or ""
    if own.strip():
        return templates.render(own, variables, budget=budget)
    first = templates.render(sequence[0].get("subject") or "", variables, budget=budget)
    return first if first.lower().startswith("re:") else f"Re: {first}"


class Composer:
    """Builds messages. ``secret`` is SECRET_KEY (or a tuple of keys, oldest first: the
    last encrypts the links' tokens). Rendering one message's templates may take
    ``render_seconds`` and write ``render_max_bytes`` per field (RenderError beyond)."""

    def __init__(self, *, base_url, secret, render_seconds=templates.RENDER_SECONDS,
                 render_max_bytes=templates.RENDER_MAX_BYTES):
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.render_seconds, self.render_max_bytes = render_seconds, render_max_bytes

    @classmethod
    def from_config(cls, config):
        return cls(base_url=config["BASE_URL"], secret=config["SECRET_KEY"],
                   render_seconds=config.get("RENDER_SECONDS", templates.RENDER_SECONDS),
                   render_max_bytes=config.get("RENDER_MAX_BYTES",
                                               templates.RENDER_MAX_BYTES))

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
        return Outgoing(parts.message_id, message_bytes(parts)), subject

    def parts(self, *, settings, sequence, step_number, lead, message_pk, message_id,
              thread_ids, sent_at):
        """(Parts, subject) for ``lead`` at ``step_number``. Raises RenderError."""
        variables = lead.variables()
        step = sequence[step_number - 1]
        # One budget for the message: its subject and body share the time.
        budget = templates.Budget(seconds=self.render_seconds,
                                  max_bytes=self.render_max_bytes)
        subject = subject_for(sequence, step_number, variables, budget)
        text = templates.render(step.get("body") or "", variables, budget=budget)
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

        def link(url):
            target = self._click_url(message_pk, url) if track_clicks else url
            return f'<a href="{html.escape(target, quote=True)}">{html.escape(url, quote=False)}</a>'

        linked = linkify(text, link)
        paragraphs = "".join(f"<p>{block.replace(chr(10), '<br>')}</p>"
                             for block in linked.split("\n\n") if block.strip())
        pixel = (f'<img src="{self._pixel_url(message_pk)}" width="1" height="1" alt="" '
                 f'style="display:none">' if settings.get("track_opens") else "")
        footer = (f'<p style="font-size:12px;color:#888"><a href="{html.escape(unsubscribe)}">'
                  f"Unsubscribe</a></p>")
        return f"<!doctype html><html><body>{paragraphs}{footer}{pixel}</body></html>\n"


def linkify(text, link):
    """``text`` as HTML: escaped, with each URL in it replaced by ``link(url)`` (which
    returns the HTML for it). URLs are found in the text as written and the text between
    them escaped on its own, so a link never ends inside an entity (``&gt;`` cut into
    ``&gt</a>;``) and a ``<`` or ``>`` next to a URL is never taken into it."""
    out, end = [], 0
    for match in URL.finditer(text):
        out.append(html.escape(text[end:match.start()], quote=False))
        out.append(link(match.group(0)))
        end = match.end()
    out.append(html.escape(text[end:], quote=False))
    return "".join(out)


def one_line(value):
    """``value``, refused (ValueError) when it holds a line break of any kind (CR, LF,
    U+2028...): written through, a header value with one ends the headers early."""
    if value.splitlines() not in ([], [value]):
        raise ValueError("Header values may not contain line breaks.")
    return value


def _plain(text):
    """Whether ``text`` can go into a header as it is: ASCII, and nothing a reader would
    take for an encoded word."""
    return text.isascii() and "=?" not in text


@functools.lru_cache(maxsize=4096)
def checked_address(address):
    """``address``, once the email package's address parser takes it whole (ValueError
    or MessageError otherwise: ``a>@b`` would go out to ``a``). Remembered: a
    mailbox's own address is checked once, not for each of its mails."""
    Address(addr_spec=one_line(address))
    return address


def address_header(name, address):
    """``Name <address>``: quoted by the email package where the name needs it, an
    encoded word where it is not plain ASCII."""
    one_line(name)
    checked_address(address)
    if not name or _plain(name):
        return formataddr((name, address))
    return f"{AS_IS.header_encode(name)} <{address}>"


def _text_part(text, subtype):
    longest = max((len(line.encode()) for line in text.splitlines()), default=0)
    part = MIMEText(text, subtype, AS_IS if longest <= MAX_LINE else WRAPPED, policy=POLICY)
    del part["MIME-Version"]  # the message's own says it once
    return part


def email_message(parts):
    """``parts`` as a MIME message (the email package's writer)."""
    # A boundary of 144 random bits cannot be in the text (nobody can guess it), so the
    # generator need not search the text for its own, which it does when it picks one.
    msg = MIMEMultipart("alternative", boundary=f"=_{secrets.token_urlsafe(18)}",
                        policy=POLICY)
    msg["From"] = address_header(parts.from_name, parts.sender)
    msg["To"] = address_header(parts.to_name, parts.recipient)
    if parts.reply_to:
        msg["Reply-To"] = checked_address(parts.reply_to)
    subject = one_line(parts.subject)
    msg["Subject"] = subject if _plain(subject) else Header(subject, AS_IS, header_name="Subject")
    msg["Date"] = one_line(parts.date)
    msg["Message-ID"] = one_line(parts.message_id)
    if parts.thread_ids:
        msg["In-Reply-To"] = one_line(parts.thread_ids[-1])
        msg["References"] = one_line(" ".join(parts.thread_ids))
    msg["List-Unsubscribe"] = f"<{one_line(parts.unsubscribe)}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.attach(_text_part(parts.text, "plain"))
    msg.attach(_text_part(parts.html, "html"))
    return msg


def message_bytes(parts):
    """What smtplib's send_message would put on the wire for ``email_message(parts)``."""
    out = BytesIO()
    BytesGenerator(out, policy=POLICY).flatten(email_message(parts))
    return out.getvalue()
