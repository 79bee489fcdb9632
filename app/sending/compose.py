"""Turn a (lead, step) into a MIME message: headers, threading, text and HTML parts."""
import datetime as dt
import html
import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache

from app.sending import templates, tokens

# A link ends before white space or markup, and never on the punctuation that closes the
# sentence around it ("see https://example.com/pricing." links to .../pricing).
URL = re.compile(r"https?://[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]")
# Long unbreakable header values (List-Unsubscribe URLs) must stay as they are, not be
# folded into encoded words: allow lines up to SMTP's own limit.
POLICY = policy.SMTP.clone(max_line_length=998)


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

    def build(self, *, settings, sequence, step_number, lead, message_pk, message_id,
              thread_ids, sent_at):
        """An EmailMessage for ``lead`` at ``step_number``. Raises templates.RenderError."""
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

        msg = EmailMessage(policy=POLICY)
        msg["From"] = _header("From", formataddr((settings.get("from_name") or "", sender)))
        full_name = " ".join(p for p in (lead.first_name, lead.last_name) if p)
        msg["To"] = Address(display_name=full_name, addr_spec=recipient)
        if reply_to:
            msg["Reply-To"] = _header("Reply-To", reply_to)
        msg["Subject"] = subject.replace("\r", " ").replace("\n", " ")
        msg["Date"] = format_datetime(sent_at.replace(tzinfo=dt.UTC))
        msg["Message-ID"] = message_id
        if thread_ids:
            msg["In-Reply-To"] = thread_ids[-1]
            msg["References"] = " ".join(thread_ids)
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = _header("List-Unsubscribe-Post",
                                               "List-Unsubscribe=One-Click")

        msg.set_content(f"{text}\n\n--\nUnsubscribe: {unsubscribe}\n")
        msg.add_alternative(self._html(text, message_pk, settings, unsubscribe), subtype="html")
        return msg, subject

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
