"""Mail backends: SMTP (smtplib) or files (.eml under OUTBOX_DIR).

Both raise TemporaryFailure (try again later) or PermanentFailure (this recipient will
never take it); ``bounce`` tells whether the recipient address itself was refused. A
tenant's mailbox session (``SMTPMailer.for_mailbox``) raises LoginFailure when its
server will not let it in: the fault is the mailbox's, not the recipient's.
"""
import contextlib
import os
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


def _classify(code, text, *, recipient):
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    message = f"{code} {text}".strip()
    if code is not None and 500 <= code < 600:
        return PermanentFailure(message, code=code, bounce=recipient)
    return TemporaryFailure(message, code=code)


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
        context = ssl.create_default_context()
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
            # smtplib does the transaction, the dot-stuffing and the RSET after a refusal.
            self._smtp.sendmail(sender, [recipient], message.data)
        except LoginFailure:
            self.close()
            raise
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
