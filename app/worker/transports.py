"""Which SMTP session a claim goes out through: the operator's relay, or its mailbox's
own server (one session per mailbox for a pass, reused across its mails).

A mailbox's host is resolved and checked before connecting, and the connected peer
checked again, as the /test route does (loopback and private addresses only with
``allow_private``). Once a mailbox fails to log in, the rest of the pass's mail for it
fails the same way at once, without another login.
"""
import socket

from app import crypto
from app.mail.mailers import LoginFailure, SMTPMailer
from app.services import mailboxes


class MailboxMailer:
    """One mailbox's session for a pass; LoginFailure carries a sentence that never
    holds the password."""

    def __init__(self, mailbox, *, timeout, allow_private):
        self.mailbox, self.timeout, self.allow_private = mailbox, timeout, allow_private
        self.fault = None
        self._smtp = None
        self._password = None

    def send(self, message, *, sender, recipient):
        if self.fault is not None:
            raise self.fault
        try:
            if self._smtp is None:
                self._smtp = self._session()
            self._smtp.send(message, sender=sender, recipient=recipient)
        except LoginFailure as exc:
            self.fault = LoginFailure(self._describe(exc.cause or exc), cause=exc.cause)
            raise self.fault from None

    def _session(self):
        mailbox = self.mailbox
        try:
            self._password = crypto.decrypt(mailbox.smtp_password)
            host = mailboxes.connect_to(mailbox.smtp_host, mailbox.smtp_port,
                                        mailbox.smtp_security, self.allow_private)
        except (crypto.UndecryptableSecret, mailboxes.RefusedHost, socket.gaierror) as exc:
            raise LoginFailure(str(exc), cause=exc) from None
        return SMTPMailer.for_mailbox(
            host=host, port=mailbox.smtp_port, security=mailbox.smtp_security,
            username=mailbox.smtp_username, password=self._password, timeout=self.timeout,
            check_peer=self._check_peer)

    def _check_peer(self, sock):
        try:
            mailboxes.check_peer(sock, allow_private=self.allow_private)
        except mailboxes.RefusedHost as exc:
            raise LoginFailure(str(exc), cause=exc) from None

    def _describe(self, exc):
        if isinstance(exc, crypto.UndecryptableSecret):
            return exc.message
        sentence = mailboxes.describe_smtp_failure(exc, self.mailbox, self.timeout)
        return mailboxes.scrub(sentence, self._password)

    def close(self):
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


class Transports:
    """The relay and the pass's mailbox sessions; ``close`` ends them all."""

    def __init__(self, relay, *, timeout=30, allow_private=False):
        self.relay, self.timeout, self.allow_private = relay, timeout, allow_private
        self._mailboxes = {}

    def for_claim(self, claim):
        if claim.mailbox is None:
            return self.relay
        mailer = self._mailboxes.get(claim.mailbox.id)
        if mailer is None:
            mailer = self._mailboxes[claim.mailbox.id] = MailboxMailer(
                claim.mailbox, timeout=self.timeout, allow_private=self.allow_private)
        return mailer

    def close(self):
        self.relay.close()
        for mailer in self._mailboxes.values():
            mailer.close()
        self._mailboxes.clear()
