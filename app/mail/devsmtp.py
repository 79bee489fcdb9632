"""A development SMTP server for laptops (``make run``): aiosmtpd on loopback that takes
AUTH PLAIN/LOGIN without TLS for one user and writes every mail it receives to a folder as
an .eml file. Development only: it refuses any address that is not loopback."""
import hmac
import ipaddress
import logging
import os
import tempfile
import time
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

log = logging.getLogger("app.devsmtp")


class Maildrop:
    """aiosmtpd handler: each message, as received, to ``<directory>/<time>-<id>.eml``."""

    def __init__(self, directory):
        self.directory = directory

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # What aiosmtpd's auth_required does, without its warning about AUTH without TLS
        # (on loopback, on purpose).
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        os.makedirs(self.directory, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(envelope.original_content or envelope.content)
        path = os.path.join(self.directory, name)
        os.replace(tmp, path)
        log.info("mail from %s to %s: %s", envelope.mail_from,
                 ", ".join(envelope.rcpt_tos), path)
        return "250 OK"


def authenticator(username, password):
    """Accepts ``username`` with ``password`` and nothing else."""
    expected = (username.encode(), password.encode())

    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and hmac.compare_digest(auth_data.login, expected[0])
              and hmac.compare_digest(auth_data.password, expected[1]))
        return AuthResult(success=ok, handled=False)
    return check


def loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def controller(directory, *, username, password, host="127.0.0.1", port=2525):
    """A stopped aiosmtpd Controller (``start()`` it): AUTH without TLS, then MAIL."""
    if not loopback(host):
        raise ValueError(f"the development SMTP server listens on loopback only, not {host!r}")
    if not password:
        raise ValueError("the development SMTP server needs a password")
    return Controller(Maildrop(directory), hostname=host, port=port,
                      authenticator=authenticator(username, password),
                      auth_require_tls=False)
