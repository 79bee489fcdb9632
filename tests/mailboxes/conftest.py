"""Real servers for mailbox tests: aiosmtpd with AUTH after STARTTLS, and Dovecot."""
import contextlib
import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app import clock
from app.mail.compose import Composer
from app.mail.mailers import SMTPMailer
from app.worker import Dispatcher
from tests.conftest import BASE as CAMPAIGNS
from tests.sending.conftest import ALWAYS, MONDAY_10, Inbox, serving

BASE = "/api/v1/tenant/mailboxes"
USER, PASSWORD = "ada@acme.test", "s3cret-Ada-p4ss"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and localhost: (cert path, key path)."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def trust_certificate(certificate, monkeypatch):
    """Make the test certificate the trust store (OpenSSL reads SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    return certificate


class Sink:
    """Accepts every message and keeps it: (envelope sender, recipients, bytes)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content or envelope.content))
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@contextlib.contextmanager
def mailbox_smtp(handler, certificate):
    """aiosmtpd on loopback serving ``handler``: STARTTLS with the test certificate,
    AUTH PLAIN/LOGIN (the mailboxes' login) after it."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            authenticator=_authenticator, auth_require_tls=True,
                            tls_context=context, require_starttls=True)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(trust_certificate):
    """The mailboxes' server (mailbox_smtp) with a Sink."""
    with mailbox_smtp(Sink(), trust_certificate) as controller:
        yield controller


DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
default_internal_user = {internal}
default_login_user = {login}
default_internal_group = {group}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={mail_group} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
"""


def dovecot_binary():
    """The dovecot executable, or None when Dovecot is not installed."""
    return shutil.which("dovecot") or ("/usr/sbin/dovecot"
                                       if shutil.os.path.exists("/usr/sbin/dovecot") else None)


@contextlib.contextmanager
def running_dovecot(users=None):
    """A Dovecot IMAP server on a loopback port, with its own config, passwd-file
    (``users``: {login: password}, USER alone by default) and maildir in a temp dir:
    yields its port. RuntimeError when it does not start."""
    import grp
    import os
    import pwd
    import tempfile
    from pathlib import Path
    binary = dovecot_binary()
    # Not under pytest's tmp_path: as root, Dovecot's own users must reach the mail
    # (pytest's directories are private to their owner).
    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    root.chmod(0o755)
    if os.getuid() == 0:  # Dovecot runs no login or mail process as root
        internal, login = "dovecot", "dovenull"
        user, mail_group = "dovecot", grp.getgrgid(pwd.getpwnam("dovecot").pw_gid).gr_name
        group = "dovecot"
    else:
        internal = login = user = pwd.getpwuid(os.getuid()).pw_name
        group = mail_group = grp.getgrgid(os.getgid()).gr_name
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(parents=True)
        shutil.chown(root / sub, user, mail_group) if sub in ("mail", "home") else None
    port = free_port()
    (root / "passwd").write_text("".join(f"{name}:{{PLAIN}}{secret}::::::\n" for name, secret
                                         in (users or {USER: PASSWORD}).items()))
    conf = root / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(root=root, port=port, user=user, group=group,
                                        mail_group=mail_group, internal=internal,
                                        login=login))
    with open(root / "stdout.log", "wb") as output:
        process = subprocess.Popen([binary, "-F", "-c", str(conf)], stdout=output,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = (root / "stdout.log").read_text(errors="replace")
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                process.kill()
                raise RuntimeError(f"Dovecot did not start: {output}\n{log}") from None
            time.sleep(0.1)
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot():
    """A Dovecot IMAP server (running_dovecot) for USER: yields its port. Skipped when
    Dovecot is not installed."""
    if dovecot_binary() is None:
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd)")
    with running_dovecot() as port:
        yield port


def stored(mailbox_id):
    """The mailbox's row as stored now (a request closes the test's Postgres connection)."""
    from app import database
    from app.models import Mailbox
    with database.connection():
        return Mailbox.get_by_id(mailbox_id)


def mailbox_body(slug, *, smtp=None, imap=None, **fields):
    body = {"workspace_slug": slug, "email": "ada@acme.test", "from_name": "Ada Lovelace",
            "smtp": {"host": "smtp.acme.test", "port": 587, "security": "starttls",
                     "username": USER, "password": PASSWORD, **(smtp or {})},
            "daily_limit": 40, "timezone": "Europe/London",
            "warmup": {"enabled": True, "start": 10, "increment": 5},
            "min_gap_seconds": 120, "random_gap_seconds": 180, **fields}
    if imap is not None:
        body["imap"] = imap
    return body


IMAP = {"host": "imap.acme.test", "port": 993, "security": "ssl", "username": USER,
        "password": "imap-" + PASSWORD, "folder": "INBOX"}


@pytest.fixture
def create_mailbox(api, tenant):
    def create(**kwargs):
        response = api.post(BASE, json=mailbox_body(tenant.slug, **kwargs))
        assert response.status_code == 201, response.json
        return response.json["data"]
    return create


@pytest.fixture
def app(make_app):
    """The app with MAILBOX_ALLOW_PRIVATE: these tests' servers listen on loopback. A test
    of the refusal sets it back to False on ``app.config``."""
    from app import database
    from tests.conftest import _release
    app = make_app(MAILBOX_ALLOW_PRIVATE=True)
    with database.connection():
        yield app
    _release(database.db.obj)


# ---- sending from mailboxes --------------------------------------------------------------

ONE_STEP = [{"subject": "Hello {{firstName}}", "body": "Hi"}]
TWO_STEPS = [ONE_STEP[0], {"subject": "", "body": "Again", "delay": 1, "delay_unit": "days"}]
NO_GAP = {"min_gap_seconds": 0, "random_gap_seconds": 0}


def leads(n, prefix="lead"):
    return [{"email": f"{prefix}{i}@example.com", "first_name": f"N{i}"} for i in range(n)]


def sending_dispatcher(app, relay_port, **options):
    """A dispatcher with the relay on ``relay_port`` and mailboxes on loopback allowed."""
    options = {"batch": 50, "webhooks": False, "imap": False, "mailbox_allow_private": True,
               "smtp_timeout": 5, **options}
    return Dispatcher(mailer=SMTPMailer(host="127.0.0.1", port=relay_port, timeout=5),
                      composer=Composer(base_url=app.config["BASE_URL"],
                                        secret=app.config["SECRET_KEY"]), **options)


@pytest.fixture
def relay():
    """The operator's relay: mail from mailboxes must never arrive here."""
    with serving(Inbox()) as inbox:
        yield inbox


@pytest.fixture
def dispatcher(app, relay):
    return sending_dispatcher(app, relay.port)


@pytest.fixture
def frozen():
    clock.freeze(MONDAY_10)
    return clock


@pytest.fixture
def mailbox(api, tenant, smtp_server, frozen):
    """Create a mailbox on the test SMTP server (STARTTLS, AUTH); returns its id."""
    def create(address, *, password=PASSWORD, **fields):
        smtp = {"host": "127.0.0.1", "port": smtp_server.port, "security": "starttls",
                "username": USER, "password": password}
        fields = {"timezone": "UTC", "warmup": {"enabled": False}, **NO_GAP, **fields}
        body = mailbox_body(tenant.slug, smtp=smtp, email=address, **fields)
        response = api.post(BASE, json=body)
        assert response.status_code == 201, response.json
        return response.json["data"]["id"]
    return create


@pytest.fixture
def start(api, create_campaign):
    """A started campaign sending from ``mailboxes``, with no relay sender; its id."""
    def make(mailboxes, *, leads, sequence=ONE_STEP, settings=None):
        campaign_id = create_campaign()["id"]
        url = f"{CAMPAIGNS}/{campaign_id}"
        body = {"sequence": sequence, "settings": {"schedule": ALWAYS, "mailboxes": mailboxes,
                                                   **(settings or {})}}
        response = api.patch(url, json=body)
        assert response.status_code == 200, response.json
        response = api.post(f"{url}/leads", json={"leads": leads})
        assert response.status_code == 200, response.json
        response = api.post(f"{url}/send", json={"action": "start"})
        assert response.status_code == 200, response.json
        return campaign_id
    return make
