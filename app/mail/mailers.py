"""Mail backends: SMTP (smtplib) or files (.eml under OUTBOX_DIR).

Both raise TemporaryFailure (try again later) or PermanentFailure (this recipient will
never take it); ``bounce`` tells whether the recipient address itself was refused. The
SMTP backend also raises Unconfirmed: the message went out whole and no answer to it
could be read, so the server may have it and it must not be sent again. A tenant's
mailbox session (``SMTPMailer.for_mailbox``) raises LoginFailure when its server will
not let it in: the fault is the mailbox's, not the recipient's.
"""
import contextlib
import enum
import functools
import os
import smtplib
import ssl
from dataclasses import dataclass

from app.mail.compose import ascii_address


class Phase(enum.StrEnum):
    """How far an SMTP transaction had got when it failed."""

    CONNECT = "connect"    # the connection, EHLO, STARTTLS, AUTH
    ENVELOPE = "envelope"  # MAIL, RCPT and the DATA command, up to its 354
    BODY = "body"          # the message, up to and with the final dot
    REPLY = "reply"        # the answer to the final dot


class DeliveryError(Exception):
    def __init__(self, message, *, code=None, bounce=False, phase=None):
        super().__init__(message)
        self.code = code
        self.bounce = bounce
        self.phase = phase


class TemporaryFailure(DeliveryError):
    pass


class PermanentFailure(DeliveryError):
    pass


class LoginFailure(DeliveryError):
    """The account cannot log in (refused credentials, no AUTH or STARTTLS offered, the
    connection refused, a host it may not reach). ``cause``: the exception, for a
    sentence about it; nothing was sent."""

    def __init__(self, message, *, cause=None):
        super().__init__(message)
        self.cause = cause


# What logging in to a tenant's mailbox can fail with that retrying will not fix.
LOGIN_FAULTS = (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError,
                ConnectionRefusedError, ssl.SSLCertVerificationError)


class Unconfirmed(DeliveryError):
    """The whole message, final dot included, was handed to the connection, and then the
    connection failed or its answer was no SMTP reply: the server may have taken it."""


@dataclass(frozen=True)
class Accepted:
    """The server's answer to the final dot of the data: it has the message."""

    code: int
    text: str


def _classify(code, text, *, recipient, phase=None):
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    message = f"{code} {text}".strip()
    if code is not None and 500 <= code < 600:
        return PermanentFailure(message, code=code, bounce=recipient, phase=phase)
    return TemporaryFailure(message, code=code, phase=phase)


def _lost(exc, phase):
    """What a connection that failed with ``exc`` (an smtplib or socket error) during
    ``phase`` means for the message."""
    why = f"{type(exc).__name__}: {exc}"
    if phase is Phase.REPLY:
        return Unconfirmed(f"no answer after the message was sent ({why})", phase=phase)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _classify(exc.smtp_code, exc.smtp_error, recipient=False, phase=phase)
    # Refused, dropped or timed out before the final dot: nothing was accepted.
    return TemporaryFailure(why, phase=phase)


def _expect(smtp, reply, accepted, *, recipient, phase):
    """Raise the failure a ``reply`` (code, text) outside ``accepted`` is, and leave the
    connection ready for the next transaction (or closed, after a 421)."""
    code, text = reply
    if code in accepted:
        return
    if code == 421:  # the server is going away
        smtp.close()
    else:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            smtp.rset()
    raise _classify(code, text, recipient=recipient, phase=phase)


def _wire(data):
    """The message as DATA carries it: dot-stuffed, CRLF line ends, the final dot. The
    stuffing is smtplib's own (quotedata), over a latin-1 view of the bytes, which maps
    each byte to one character and back (8bit bodies pass through untouched)."""
    text = smtplib.quotedata(data.decode("latin-1"))
    if not text.endswith("\r\n"):
        text += "\r\n"
    return (text + ".\r\n").encode("latin-1")


def transact(smtp, message, *, sender, recipient):
    """One mail transaction for ``recipient`` alone (MAIL, RCPT, DATA) over ``smtp``, an
    open smtplib.SMTP (logged in when the server wants it): Accepted, or raises.

    TemporaryFailure or PermanentFailure: the server refused (a 4xx or 5xx, also to the
    final dot), or the connection failed before the final dot went out; the server does
    not have the message. Unconfirmed: the message went out whole and no answer to it
    could be read (dropped, timed out, no SMTP reply): it may have it. After a refusal
    the connection is reset for the next transaction; after a failure it is closed
    (``smtp.sock`` is None).

    The DATA command and the message are two steps here, where smtplib's ``data()``
    makes them one: a connection lost while waiting for the 354 must be told apart
    from one lost while waiting for the answer to the message.
    """
    phase = Phase.CONNECT
    try:
        smtp.ehlo_or_helo_if_needed()
        phase = Phase.ENVELOPE
        options = [f"SIZE={len(message.data)}"] if smtp.has_extn("size") else []
        _expect(smtp, smtp.mail(sender, options), (250,), recipient=False, phase=phase)
        _expect(smtp, smtp.rcpt(recipient), (250, 251), recipient=True, phase=phase)
        # One recipient per transaction: a 5xx to the data is about this recipient.
        _expect(smtp, smtp.docmd("DATA"), (354,), recipient=True, phase=phase)
        phase = Phase.BODY
        smtp.send(_wire(message.data))
        phase = Phase.REPLY
        code, text = smtp.getreply()
    except (smtplib.SMTPException, OSError) as exc:  # TimeoutError is an OSError
        smtp.close()
        raise _lost(exc, phase) from exc
    if code == 250:
        return Accepted(code, text.decode(errors="replace"))
    if not 400 <= code < 600:  # -1: a line that is no SMTP reply
        smtp.close()
        raise Unconfirmed(f"the answer after the message was sent is no SMTP reply: "
                          f"{code} {text.decode(errors='replace')}", code=code, phase=phase)
    _expect(smtp, (code, text), (250,), recipient=True, phase=phase)


def tls_context():
    """Certificates are verified against the system's trust store (SSL_CERT_FILE and
    SSL_CERT_DIR too). One context per trust store, shared by every connection: loading
    the store reads each of its certificates, more work than the rest of a mailbox's
    poll, and a context is safe to share between threads."""
    return _trusting(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _trusting(cert_file, cert_dir):
    return ssl.create_default_context()


class SMTPMailer:
    """One connection reused across a batch; reopened when the server drops it."""

    def __init__(self, *, host, port, username=None, password=None, starttls=False,
                 use_ssl=False, timeout=30, check_peer=None, login_faults=False):
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.starttls, self.use_ssl, self.timeout = starttls, use_ssl, timeout
        # check_peer(socket): raises when the connected peer is not one to talk to.
        self.check_peer, self.login_faults = check_peer, login_faults
        self._smtp = None

    @classmethod
    def for_mailbox(cls, *, host, port, security, username, password, timeout=30,
                    check_peer=None):
        """A tenant's own account: ``security`` none, starttls or ssl; AUTH always.
        Failing to log in raises LoginFailure."""
        return cls(host=host, port=port, username=username, password=password,
                   starttls=security == "starttls", use_ssl=security == "ssl",
                   timeout=timeout, check_peer=check_peer, login_faults=True)

    def _connect(self):
        try:
            return self._open()
        except LOGIN_FAULTS as exc:
            if not self.login_faults:
                raise
            raise LoginFailure(f"{type(exc).__name__}: {exc}", cause=exc) from exc

    def _open(self):
        context = tls_context()
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.check_peer is not None:
                self.check_peer(smtp.sock)
            if self.starttls and not self.use_ssl:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message, *, sender, recipient):
        """Send ``message`` (compose.Outgoing) to ``recipient`` alone: Accepted, or raises
        as ``transact`` does."""
        try:
            # The envelope in the ASCII form the headers use (international domains).
            sender, recipient = ascii_address(sender), ascii_address(recipient)
        except ValueError as exc:
            raise PermanentFailure(str(exc)) from exc
        if self._smtp is None or self._smtp.sock is None:
            # None yet, or closed after a 421 or a failure (the server went away).
            try:
                self._smtp = self._connect()
            except LoginFailure:
                self.close()
                raise
            except (smtplib.SMTPException, OSError) as exc:
                self.close()
                raise _lost(exc, Phase.CONNECT) from exc
        return transact(self._smtp, message, sender=sender, recipient=recipient)

    def close(self):
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                with contextlib.suppress(OSError):
                    self._smtp.close()
            self._smtp = None


class FileMailer:
    """Writes each message to ``<outbox>/<message id>.eml``: for laptops and demos."""

    def __init__(self, *, outbox):
        self.outbox = outbox

    def send(self, message, *, sender, recipient):
        os.makedirs(self.outbox, exist_ok=True)
        name = message.message_id.strip("<>").replace("/", "_").replace("@", "_at_")
        path = os.path.join(self.outbox, f"{name}.eml")
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(message.data)
        os.replace(tmp, path)

    def close(self):
        pass


def make_mailer(config):
    backend = config["MAIL_BACKEND"]
    if backend == "smtp":
        return SMTPMailer(host=config["SMTP_HOST"], port=config["SMTP_PORT"],
                          username=config["SMTP_USERNAME"], password=config["SMTP_PASSWORD"],
                          starttls=config["SMTP_STARTTLS"], use_ssl=config["SMTP_SSL"],
                          timeout=config["SMTP_TIMEOUT"])
    if backend == "file":
        return FileMailer(outbox=config["OUTBOX_DIR"])
    raise ValueError(f"MAIL_BACKEND must be 'smtp' or 'file', not {backend!r}")
