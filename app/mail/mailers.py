"""Mail backends: SMTP (smtplib) or files (.eml under OUTBOX_DIR).

Both raise TemporaryFailure (try again later) or PermanentFailure (this recipient will
never take it); ``bounce`` tells whether the recipient address itself was refused.
"""
import contextlib
import os
import re
import smtplib
import ssl

from app.mail.compose import ascii_address


class DeliveryError(Exception):
    def __init__(self, message, *, code=None, bounce=False):
        super().__init__(message)
        self.code = code
        self.bounce = bounce


class TemporaryFailure(DeliveryError):
    pass


class PermanentFailure(DeliveryError):
    pass


def _classify(code, text, *, recipient):
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    message = f"{code} {text}".strip()
    if code is not None and 500 <= code < 600:
        return PermanentFailure(message, code=code, bounce=recipient)
    return TemporaryFailure(message, code=code)


class SMTPMailer:
    """One connection reused across a batch; reopened when the server drops it."""

    def __init__(self, *, host, port, username=None, password=None, starttls=False,
                 use_ssl=False, timeout=30):
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.starttls, self.use_ssl, self.timeout = starttls, use_ssl, timeout
        self._smtp = None

    def _connect(self):
        context = ssl.create_default_context()
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls(context=context)
        if self.username:
            smtp.login(self.username, self.password or "")
        return smtp

    def send(self, message, *, sender, recipient):
        """Send ``message`` (compose.Outgoing) to ``recipient`` alone."""
        try:
            # The envelope in the ASCII form the headers use (international domains).
            sender, recipient = ascii_address(sender), ascii_address(recipient)
        except ValueError as exc:
            raise PermanentFailure(str(exc)) from exc
        try:
            if self._smtp is None or self._smtp.sock is None:
                # None yet, or closed by smtplib after a 421 (the server went away).
                self._smtp = self._connect()
            _send(self._smtp, sender, recipient, message.data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (None, b""))
            raise _classify(code, text, recipient=True) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, recipient=False) from exc
        except smtplib.SMTPDataError as exc:
            # One recipient per transaction: a 5xx to the data is about this recipient.
            raise _classify(exc.smtp_code, exc.smtp_error, recipient=True) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise _classify(exc.smtp_code, exc.smtp_error, recipient=False) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # Dropped connection, refused connection, timeout: nothing was accepted.
            self.close()
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc

    def close(self):
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                with contextlib.suppress(OSError):
                    self._smtp.close()
            self._smtp = None


# A line of the message that starts with a dot gets a second one (RFC 5321, 4.5.2).
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _send(smtp, sender, recipient, data):
    """One SMTP transaction for ``data`` (bytes, CRLF line ends) to one recipient.

    A server that offers PIPELINING (RFC 2920) gets MAIL, RCPT and DATA in one write
    and the message in another: two round trips instead of smtplib's four. Replies are
    judged in order, and a refusal raises what smtplib's sendmail raises for it.
    """
    smtp.ehlo_or_helo_if_needed()
    if not smtp.has_extn("pipelining"):
        smtp.sendmail(sender, [recipient], data)
        return
    size = f" SIZE={len(data)}" if smtp.has_extn("size") else ""
    smtp.send(f"MAIL FROM:{smtplib.quoteaddr(sender)}{size}\r\n"
              f"RCPT TO:{smtplib.quoteaddr(recipient)}\r\nDATA\r\n".encode("ascii"))
    mail = smtp.getreply()
    if mail[0] != 250:
        _abandon(smtp, mail, pending=2)
        raise smtplib.SMTPSenderRefused(*mail, sender)
    rcpt = smtp.getreply()
    if rcpt[0] not in (250, 251):
        _abandon(smtp, rcpt, pending=1)
        raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
    go = smtp.getreply()
    if go[0] != 354:
        _abandon(smtp, go)
        raise smtplib.SMTPDataError(*go)
    body = _LEADING_DOT.sub(b"..", data)
    smtp.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    done = smtp.getreply()
    if done[0] != 250:
        _abandon(smtp, done)
        raise smtplib.SMTPDataError(*done)


def _abandon(smtp, reply, *, pending=0):
    """End a transaction that will not deliver: read the replies still due to pipelined
    commands, then RSET. Close instead when the server is going away (421) or waits for
    a message we will not send (354)."""
    replies = [reply]
    try:
        while pending and replies[-1][0] != 421:
            replies.append(smtp.getreply())
            pending -= 1
    except (smtplib.SMTPException, OSError):
        smtp.close()
        return
    if any(code in (421, 354) for code, _ in replies):
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()  # a server gone by now: the next send connects again


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
