"""Mailbox use cases: the tenant's own sending accounts, their caps and their servers.

Passwords go in through ``app.crypto`` and never come out of this module except to log
in to the mailbox's own server.
"""
import contextlib
import datetime as dt
import ipaddress
import smtplib
import socket
import ssl
import threading
import time
import zoneinfo

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors
from peewee import IntegrityError, fn

from app import clock, crypto
from app.database import locked, transaction
from app.errors import Conflict, NotFound, ValidationFailed
from app.lifecycle import CampaignStatus, pull_workspace
from app.mail.mailers import tls_context
from app.models import (
    MAILBOX_ACTIVE,
    MAILBOX_ERROR,
    Campaign,
    Mailbox,
    Message,
)
from app.services.tenants import get_workspace, owned, workspace_page

SERVER_FIELDS = ("host", "port", "security", "username", "password")
IMAP_STATE_RESET = {"uidvalidity": None, "last_uid": 0, "imap_error": None,
                    "imap_failures": 0, "next_poll_at": None}


def _not_found(mailbox_id):
    return NotFound(f"No mailbox '{mailbox_id}'.", code="mailbox_not_found",
                    details={"id": mailbox_id})


def _exists(email, workspace):
    return Conflict(f"The workspace already has a mailbox for {email}.",
                    code="mailbox_exists", details={"email": email, "workspace": workspace})


def get_mailbox(tenant, mailbox_id, *, for_update=False, now=None):
    """The tenant's mailbox with its workspace and today's counts, or NotFound (also
    for another tenant's)."""
    query = owned(Mailbox, tenant, mailbox_id)
    mailbox = (locked(query) if for_update else query).first()
    if mailbox is None:
        raise _not_found(mailbox_id)
    return _with_counts(mailbox, now or clock.now())


def list_mailboxes(tenant, *, workspace, limit=20, offset=0):
    """A page of a workspace's mailboxes, newest first: (items, total)."""
    items, total = workspace_page(Mailbox, get_workspace(tenant, workspace),
                                  limit=limit, offset=offset)
    now = clock.now()
    # One grouped count for the page rather than one per mailbox.
    counts = sent_today_many(items, now)
    for mailbox in items:
        mailbox.sent_today = counts.get(mailbox.id, 0)
        mailbox.limit_today = limit_today(mailbox, now)
    return items, total


def create_mailbox(tenant, *, workspace_slug, email, smtp, from_name=None, imap=None,
                   daily_limit=40, timezone="UTC", warmup=None, min_gap_seconds=120,
                   random_gap_seconds=180):
    now = clock.now()
    warmup = warmup or {}
    fields = dict(
        tenant=tenant, email=email, from_name=from_name, daily_limit=daily_limit,
        timezone=timezone, min_gap_seconds=min_gap_seconds,
        random_gap_seconds=random_gap_seconds,
        warmup_enabled=warmup.get("enabled", False), warmup_start=warmup.get("start", 10),
        warmup_increment=warmup.get("increment", 5),
        warmup_started_at=now if warmup.get("enabled") else None,
        created_at=now, updated_at=now, **_server_fields("smtp", smtp))
    if imap is not None:
        fields.update(_server_fields("imap", {"folder": "INBOX", **imap}))
    with transaction():
        ws = get_workspace(tenant, workspace_slug)
        if Mailbox.select().where((Mailbox.workspace == ws) & (Mailbox.email == email)).exists():
            raise _exists(email, ws.slug)
        try:
            with transaction():
                mailbox = Mailbox.create(workspace=ws, **fields)
        except IntegrityError:  # the same address created at the same moment
            raise _exists(email, ws.slug) from None
    mailbox.workspace = ws
    return _with_counts(mailbox, now)


def _server_fields(prefix, values):
    out = {}
    for key, value in values.items():
        if key == "password":
            value = crypto.encrypt(value)
        out[f"{prefix}_{key}"] = value
    return out


def update_mailbox(tenant, mailbox_id, *, changes):
    """Apply a PATCH, merged key by key; a password changes only when one is given."""
    now = clock.now()
    with transaction():
        mailbox = get_mailbox(tenant, mailbox_id, for_update=True, now=now)
        if not changes:
            return mailbox
        for key in ("email", "from_name", "daily_limit", "timezone", "min_gap_seconds",
                    "random_gap_seconds"):
            if key in changes:
                setattr(mailbox, key, changes[key])
        if "smtp" in changes:
            for key, value in _server_fields("smtp", changes["smtp"]).items():
                setattr(mailbox, key, value)
        if "imap" in changes:
            _merge_imap(mailbox, changes["imap"])
        if "warmup" in changes:
            warmup = changes["warmup"]
            if warmup.get("enabled") and not mailbox.warmup_enabled:
                mailbox.warmup_started_at = now  # warm-up counts from when it is turned on
            elif warmup.get("enabled") is False:
                mailbox.warmup_started_at = None
            for key in ("enabled", "start", "increment"):
                if key in warmup:
                    setattr(mailbox, f"warmup_{key}", warmup[key])
        if "status" in changes and changes["status"] != mailbox.status:
            if mailbox.status == MAILBOX_ERROR and changes["status"] == MAILBOX_ACTIVE:
                # Resuming is the client saying the fault is fixed: try again now.
                mailbox.last_error = None
                mailbox.next_send_at = None
            mailbox.status = changes["status"]
        if "email" in changes and Mailbox.select().where(
                (Mailbox.workspace == mailbox.workspace.id) & (Mailbox.email == mailbox.email)
                & (Mailbox.id != mailbox.id)).exists():
            raise _exists(mailbox.email, mailbox.workspace.slug)
        mailbox.updated_at = now
        mailbox.save()
        if mailbox.status == MAILBOX_ACTIVE:
            # Whatever changed may let it send sooner than its campaigns' next visits.
            pull_workspace(mailbox.workspace.id, now)
    return _with_counts(mailbox, now)


def _merge_imap(mailbox, imap):
    if imap is None:  # IMAP removed: nothing is read from this mailbox any more
        for key in ("host", "port", "security", "username", "password", "folder"):
            setattr(mailbox, f"imap_{key}", None)
        for key, value in IMAP_STATE_RESET.items():
            setattr(mailbox, key, value)
        return
    if not mailbox.has_imap:
        missing = [key for key in SERVER_FIELDS if key not in imap]
        if missing:
            raise ValidationFailed(details={"fields": {"imap": {
                key: ["Required when the mailbox has no IMAP yet."] for key in missing}}})
        imap = {"folder": "INBOX", **imap}
    moved = any(key in imap and imap[key] != getattr(mailbox, f"imap_{key}")
                for key in ("host", "port", "username", "folder"))
    for key, value in _server_fields("imap", imap).items():
        setattr(mailbox, key, value)
    if moved:  # another folder or account: its UIDs mean nothing to the old state
        for key, value in IMAP_STATE_RESET.items():
            setattr(mailbox, key, value)
    elif "password" in imap:
        mailbox.imap_error, mailbox.imap_failures, mailbox.next_poll_at = None, 0, None


def delete_mailbox(tenant, mailbox_id):
    """Delete a mailbox no active campaign depends on alone. Its messages stay, with no
    mailbox (the column is set to NULL by the database)."""
    with transaction():
        mailbox = get_mailbox(tenant, mailbox_id, for_update=True)
        users = campaigns_depending_on(mailbox)
        if users:
            raise Conflict(
                "An active campaign sends only through this mailbox; pause it or give it "
                "another mailbox first.", code="mailbox_in_use",
                details={"campaigns": users})
        Mailbox.delete().where(Mailbox.id == mailbox.id).execute()
    return mailbox


def campaigns_depending_on(mailbox):
    """Ids of the active campaigns whose ``settings.mailboxes`` has this mailbox and no
    other that still exists."""
    # The settings are JSON text: LIKE narrows to the campaigns naming the id, and the
    # list itself is read in Python.
    candidates = (Campaign.select(Campaign.id, Campaign.settings)
                  .where((Campaign.workspace == mailbox.workspace_id)
                         & (Campaign.status == CampaignStatus.ACTIVE)
                         & Campaign.settings.contains(mailbox.id)))
    users = []
    for campaign in candidates:
        ids = (campaign.settings or {}).get("mailboxes") or []
        if not isinstance(ids, list) or mailbox.id not in ids:
            continue
        others = [i for i in ids if i != mailbox.id]
        if not others or not Mailbox.select().where(
                (Mailbox.id.in_(others)) & (Mailbox.workspace == mailbox.workspace_id)).exists():
            users.append(campaign.id)
    return users


def rekey_all(*, batch=500):
    """Re-encrypt every stored password under the first key; returns how many."""
    count = 0
    last_id = ""
    while True:
        with transaction():
            rows = list(Mailbox.select(Mailbox.id, Mailbox.smtp_password, Mailbox.imap_password)
                        .where(Mailbox.id > last_id).order_by(Mailbox.id).limit(batch))
            for row in rows:
                changes = {Mailbox.smtp_password: crypto.rotate(row.smtp_password)}
                count += 1
                if row.imap_password is not None:
                    changes[Mailbox.imap_password] = crypto.rotate(row.imap_password)
                    count += 1
                Mailbox.update(changes).where(Mailbox.id == row.id).execute()
        if len(rows) < batch:
            return count
        last_id = rows[-1].id


# ---- caps ------------------------------------------------------------------------------

def _zone(mailbox):
    return zoneinfo.ZoneInfo(mailbox.timezone or "UTC")


def local_day(mailbox, moment):
    """The mailbox's calendar day at ``moment`` (naive UTC)."""
    return moment.replace(tzinfo=dt.UTC).astimezone(_zone(mailbox)).date()


def local_day_bounds(mailbox, moment):
    """[start, end) of the mailbox's local day at ``moment``, as naive UTC."""
    zone = _zone(mailbox)
    day = local_day(mailbox, moment)
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return tuple(t.astimezone(dt.UTC).replace(tzinfo=None) for t in (start, end))


def limit_today(mailbox, now):
    """The daily limit after warm-up: start + increment for each local day since it
    began, never above ``daily_limit``."""
    if not mailbox.warmup_enabled:
        return mailbox.daily_limit
    began = mailbox.warmup_started_at or now
    days = max(0, (local_day(mailbox, now) - local_day(mailbox, began)).days)
    return min(mailbox.daily_limit, mailbox.warmup_start + mailbox.warmup_increment * days)


def sent_today(mailbox, now):
    """The mailbox's mails of its local day, across every campaign."""
    start, end = local_day_bounds(mailbox, now)
    return (Message.select().where((Message.mailbox == mailbox.id)
                                   & (Message.created_at >= start)
                                   & (Message.created_at < end)).count())


def sent_today_many(mailboxes, now):
    """``sent_today`` of several mailboxes in one query: {mailbox id: count}."""
    if not mailboxes:
        return {}
    condition = None
    for mailbox in mailboxes:
        start, end = local_day_bounds(mailbox, now)
        one = ((Message.mailbox == mailbox.id) & (Message.created_at >= start)
               & (Message.created_at < end))
        condition = one if condition is None else condition | one
    rows = (Message.select(Message.mailbox, fn.COUNT(Message.id)).where(condition)
            .group_by(Message.mailbox).tuples())
    return dict(rows)


def _with_counts(mailbox, now):
    mailbox.sent_today = sent_today(mailbox, now)
    mailbox.limit_today = limit_today(mailbox, now)
    return mailbox


# ---- connection test ---------------------------------------------------------------------

REFUSED_HOST = "The host resolves to a private or local address."
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedHost(Exception):
    """The mailbox's server resolves to an address a tenant may not make us call."""

    def __str__(self):
        return REFUSED_HOST


class Deadline:
    """A bound on a whole session, not only on each socket operation: ``left()`` is the
    time that remains (TimeoutError once none does)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def left(self):
        remaining = self.ends - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {self.seconds:g} seconds")
        return remaining

    @property
    def passed(self):
        return time.monotonic() >= self.ends

    @contextlib.contextmanager
    def watch(self, get_socket):
        """Shut the session's socket down when the time is up, so that a server that
        trickles its answer a byte at a time cannot hold a step open past the bound."""
        def expire():
            sock = get_socket()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        timer = threading.Timer(max(0.0, self.ends - time.monotonic()), expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


def refused_address(address):
    """True when ``address`` is not one a tenant's server may have: loopback, private,
    link-local, multicast, reserved, unspecified, or an IPv6 form carrying such an IPv4
    address (mapped, 6to4, Teredo, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address.teredo:
            embedded.extend(address.teredo)
        if address in NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(inner is not None and refused_address(inner) for inner in embedded):
            return True
    return (address.is_loopback or address.is_private or address.is_link_local
            or address.is_multicast or address.is_reserved or address.is_unspecified
            or not address.is_global)


def checked_address(host, port, *, allow_private=False):
    """The address to connect to, as text: the name is resolved once and every address
    it has must be allowed (a name with one private address among public ones is
    refused: which one a later lookup returns is not ours to choose)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private and any(refused_address(a) for a in addresses):
        raise RefusedHost()
    return str(addresses[0])


def check_peer(sock, *, allow_private=False):
    """Refuse a connection whose peer is not allowed: a name connected to by name (for
    TLS, whose certificate check needs it) may have resolved again to another address."""
    if not allow_private and sock is not None and refused_address(
            ipaddress.ip_address(sock.getpeername()[0].split("%")[0])):
        raise RefusedHost()


def test_connection(mailbox, *, timeout, allow_private=False):
    """Log in to the mailbox's SMTP server (and IMAP server when set), each session
    within ``timeout`` seconds in all: ``{"smtp": {"ok", "error"}, "imap": {"ok", "error"}
    | None}``. An error is a sentence for a person; it never holds the password. A host
    that resolves to a loopback or private address is refused before any connection,
    unless ``allow_private``."""
    smtp = _outcome(_smtp_login, mailbox, timeout, mailbox.smtp_password, allow_private)
    imap = (_outcome(_imap_login, mailbox, timeout, mailbox.imap_password, allow_private)
            if mailbox.has_imap else None)
    return {"smtp": smtp, "imap": imap}


test_connection.__test__ = False  # a use case, not a test for pytest to collect


def _outcome(login, mailbox, timeout, token, allow_private):
    password = crypto.decrypt(token)
    deadline = Deadline(timeout)
    try:
        login(mailbox, password, deadline, allow_private)
    except Exception as exc:  # every failure is an answer here, never a 500
        if deadline.passed and not isinstance(exc, RefusedHost):
            exc = TimeoutError("timed out")  # the watch cut it short, whatever it became
        return {"ok": False, "error": scrub(describe_failure(exc, mailbox, login, timeout),
                                            password)}
    return {"ok": True, "error": None}


def scrub(sentence, password):
    """Servers echo what they were sent now and then: the password never leaves with it."""
    return sentence.replace(password, "[password]") if password else sentence


def connect_to(host, port, security, allow_private):
    """What to connect to: the checked address itself without TLS; with TLS the name,
    because smtplib and IMAPClient check the certificate against the name they connect
    to and have no public way to connect to one and verify the other (the peer is then
    checked once connected, before anything is sent)."""
    address = checked_address(host, port, allow_private=allow_private)
    return address if security == "none" else host


def _smtp_login(mailbox, password, deadline, allow_private):
    target = connect_to(mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_security,
                         allow_private)
    # Connected from the constructor: smtplib keeps the name STARTTLS checks only from
    # there. Until the greeting, each socket operation has the time left as its bound.
    if mailbox.smtp_security == "ssl":
        client = smtplib.SMTP_SSL(target, mailbox.smtp_port, timeout=deadline.left(),
                                  context=tls_context())
    else:
        client = smtplib.SMTP(target, mailbox.smtp_port, timeout=deadline.left())
    try:
        with deadline.watch(lambda: client.sock):
            check_peer(client.sock, allow_private=allow_private)
            if mailbox.smtp_security == "starttls":
                client.sock.settimeout(deadline.left())
                client.starttls(context=tls_context())
            client.sock.settimeout(deadline.left())
            client.login(mailbox.smtp_username, password)
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def imap_client(mailbox, password, timeout, *, allow_private=False, deadline=None):
    """An IMAPClient logged in to the mailbox (the caller logs out). The host is
    resolved and checked first (see ``checked_address``)."""
    deadline = deadline or Deadline(timeout)
    target = connect_to(mailbox.imap_host, mailbox.imap_port, mailbox.imap_security,
                         allow_private)
    client = IMAPClient(target, port=mailbox.imap_port,
                        ssl=mailbox.imap_security == "ssl",
                        ssl_context=tls_context(), timeout=deadline.left())
    try:
        check_peer(client.socket(), allow_private=allow_private)
        with deadline.watch(client.socket):
            if mailbox.imap_security == "starttls":
                client.socket().settimeout(deadline.left())
                client.starttls(tls_context())
            client.socket().settimeout(deadline.left())
            client.login(mailbox.imap_username, password)
    except BaseException:
        logout(client)
        raise
    return client


def logout(client):
    try:
        client.logout()
    except (imap_errors.IMAPClientError, OSError):
        with contextlib.suppress(OSError):
            client.shutdown()


def _imap_login(mailbox, password, deadline, allow_private):
    client = imap_client(mailbox, password, deadline.seconds, allow_private=allow_private,
                         deadline=deadline)
    try:
        with deadline.watch(client.socket):
            client.socket().settimeout(deadline.left())
            client.select_folder(mailbox.imap_folder or "INBOX", readonly=True)
    finally:
        logout(client)


def describe_failure(exc, mailbox, login=None, timeout=None):
    """A sentence for a failed SMTP or IMAP session."""
    imap = login is not _smtp_login
    kind = "IMAP" if imap else "SMTP"
    host, port = ((mailbox.imap_host, mailbox.imap_port) if imap
                  else (mailbox.smtp_host, mailbox.smtp_port))
    where = f"{host}:{port}"
    if isinstance(exc, RefusedHost):
        return REFUSED_HOST
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (f"The SMTP server at {where} refused the username or password "
                f"({exc.smtp_code} {_text(exc.smtp_error)}).")
    if isinstance(exc, imap_errors.LoginError):
        return f"The IMAP server at {where} refused the username or password ({exc})."
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return (f"The SMTP server at {where} does not offer it: {exc}. Check the security "
                "setting (none, starttls or ssl).")
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"The SMTP server at {where} answered {exc.smtp_code} {_text(exc.smtp_error)}."
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"The SMTP server at {where} closed the connection ({exc or 'no reason given'})."
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return (f"The {kind} server at {where} timed out: no answer within "
                f"{timeout:g} seconds.")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"The {kind} server at {where} has a certificate that cannot be trusted: " \
               f"{exc.verify_message or exc.reason}."
    if isinstance(exc, ssl.SSLError):
        return (f"The TLS handshake with the {kind} server at {where} failed "
                f"({exc.reason or exc}). Check the port and the security setting.")
    if isinstance(exc, socket.gaierror):
        return f"The host name '{host}' does not resolve."
    if isinstance(exc, ConnectionRefusedError):
        return f"The {kind} server at {where} refused the connection."
    if isinstance(exc, imap_errors.IMAPClientError):
        if "select" in str(exc).lower():
            return f"The IMAP folder '{mailbox.imap_folder}' cannot be opened: {exc}."
        return f"The IMAP server at {where} answered: {exc}."
    if isinstance(exc, OSError):
        return f"Cannot reach the {kind} server at {where}: {exc.strerror or exc}."
    return f"The {kind} session with {where} failed: {exc.__class__.__name__}."


def describe_smtp_failure(exc, mailbox, timeout=None):
    """A sentence for a failed SMTP session with the mailbox's server."""
    return describe_failure(exc, mailbox, _smtp_login, timeout)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
