"""Read new mail from each mailbox's IMAP folder, once per message, across restarts and
workers.

Per mailbox: take a lease in the database (one worker at a time), log in, compare the
folder's UIDVALIDITY with the stored one (a change means the UIDs were renumbered:
read from the start again), fetch each message with a UID above ``last_uid``, hand it
to ``classify`` and store its UID before the next one. A message is handed on again
only if the worker dies between the two (classification is idempotent).

Connections are bounded: at most ``concurrency`` mailboxes are polled at once by one
call (a fixed thread pool; 1 polls them one after another). A host that resolves to a
loopback or private address is refused before any connection (``allow_private`` lets
it, for development), and a message larger than ``max_bytes`` is skipped, not fetched.
"""
import datetime as dt
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

from peewee import fn

from app import clock, crypto, database
from app.database import transaction
from app.models import Mailbox
from app.services.mailboxes import describe_failure, imap_client, logout, scrub

log = logging.getLogger("app.imap")
MAX_MESSAGE_BYTES = 1024 * 1024


def poll_due(classify, *, now=None, limit=100, timeout=10.0, concurrency=4,
             interval=60.0, max_backoff=3600.0, lease_seconds=300.0, max_messages=200,
             max_bytes=MAX_MESSAGE_BYTES, allow_private=False):
    """Poll each mailbox with IMAP whose ``next_poll_at`` is due; returns how many
    messages were handed to ``classify(raw_bytes, mailbox)``. Never raises for a
    mailbox's fault: it is kept on the mailbox (``imap_error``) and retried later,
    ``interval`` doubling per failure up to ``max_backoff``. A message over
    ``max_bytes`` (RFC822.SIZE) is passed by: logged with its UID, never fetched."""
    now = now or clock.now()
    due = list(Mailbox.select(Mailbox.id).where(
        Mailbox.imap_host.is_null(False)
        & (Mailbox.next_poll_at.is_null() | (Mailbox.next_poll_at <= now))
        & (Mailbox.lease_until.is_null() | (Mailbox.lease_until <= now)))
        .order_by(fn.COALESCE(Mailbox.next_poll_at, Mailbox.created_at)).limit(limit).tuples())
    options = dict(now=now, timeout=timeout, interval=interval, max_backoff=max_backoff,
                   lease_seconds=lease_seconds, max_messages=max_messages,
                   max_bytes=max_bytes, allow_private=allow_private)
    ids = [row[0] for row in due]
    if concurrency <= 1 or len(ids) <= 1:
        return sum(_poll_one(mailbox_id, classify, **options) for mailbox_id in ids)

    def in_thread(mailbox_id):
        with database.connection():  # each thread has its own connection
            return _poll_one(mailbox_id, classify, **options)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sum(pool.map(in_thread, ids))


def _take_lease(mailbox_id, now, lease_seconds):
    """The mailbox with a fresh lease token, or None when another worker holds it."""
    token = uuid.uuid4().hex
    with transaction():
        taken = (Mailbox.update(lease_token=token,
                                lease_until=now + dt.timedelta(seconds=lease_seconds))
                 .where((Mailbox.id == mailbox_id)
                        & (Mailbox.lease_until.is_null() | (Mailbox.lease_until <= now)))
                 .execute())
    if not taken:
        return None
    return Mailbox.get_or_none((Mailbox.id == mailbox_id) & (Mailbox.lease_token == token))


def _ours(mailbox):
    return (Mailbox.id == mailbox.id) & (Mailbox.lease_token == mailbox.lease_token)


def _poll_one(mailbox_id, classify, *, now, timeout, interval, max_backoff, lease_seconds,
              max_messages, max_bytes, allow_private):
    mailbox = _take_lease(mailbox_id, now, lease_seconds)
    if mailbox is None:
        return 0
    read = 0
    password = None
    try:
        password = crypto.decrypt(mailbox.imap_password)
        client = imap_client(mailbox, password, timeout, allow_private=allow_private)
        try:
            read = _read_new(client, mailbox, classify, max_messages, lease_seconds,
                             max_bytes)
        finally:
            logout(client)
    except Exception as exc:  # a mailbox's fault never stops the worker
        failures = mailbox.imap_failures + 1
        wait = min(max_backoff, interval * 2 ** (failures - 1))
        # The same scrub as the connection test: a server may echo the password.
        error = scrub(describe_failure(exc, mailbox, timeout=timeout), password)
        log.warning("imap poll failed", extra={"fields": {"mailbox": mailbox.id,
                                                          "error": error}})
        with transaction():
            Mailbox.update(imap_error=error, imap_failures=failures,
                           next_poll_at=clock.now() + dt.timedelta(seconds=wait),
                           lease_until=None, lease_token=None).where(_ours(mailbox)).execute()
        return read
    with transaction():
        Mailbox.update(imap_error=None, imap_failures=0,
                       next_poll_at=clock.now() + dt.timedelta(seconds=interval),
                       lease_until=None, lease_token=None).where(_ours(mailbox)).execute()
    return read


def _read_new(client, mailbox, classify, max_messages, lease_seconds, max_bytes):
    folder = client.select_folder(mailbox.imap_folder or "INBOX", readonly=True)
    uidvalidity = folder[b"UIDVALIDITY"]
    last_uid = mailbox.last_uid or 0
    if uidvalidity != mailbox.uidvalidity:
        # New folder, or its UIDs were renumbered: what we knew of it means nothing.
        last_uid = 0
        with transaction():
            Mailbox.update(uidvalidity=uidvalidity, last_uid=0).where(_ours(mailbox)).execute()
        mailbox.uidvalidity, mailbox.last_uid = uidvalidity, 0
    if last_uid:
        uids = client.search(["UID", f"{last_uid + 1}:*"])
    else:
        # From the start means from the day the mailbox was added: older mail was not
        # an answer to anything sent from here.
        since = (mailbox.created_at - dt.timedelta(days=1)).date()
        uids = client.search(["SINCE", since])
    # "n:*" always matches the last message, even one below n.
    uids = sorted(uid for uid in uids if uid > last_uid)[:max_messages]
    # Sizes first: a message too large to classify is never downloaded.
    sizes = client.fetch(uids, ["RFC822.SIZE"]) if uids else {}
    read = 0
    for uid in uids:
        size = (sizes.get(uid) or {}).get(b"RFC822.SIZE") or 0
        if size > max_bytes:
            log.warning("imap message too large, skipped", extra={"fields": {
                "mailbox": mailbox.id, "uid": uid, "bytes": size, "max_bytes": max_bytes}})
            raw = None
        else:
            raw = (client.fetch([uid], ["RFC822"]).get(uid) or {}).get(b"RFC822")
        if raw is not None:
            try:
                classify(raw, mailbox)
            except Exception:  # one message that cannot be classified never blocks the rest
                log.exception("imap message not classified",
                              extra={"fields": {"mailbox": mailbox.id, "uid": uid}})
            read += 1
        with transaction():
            kept = (Mailbox.update(last_uid=uid, lease_until=clock.now()
                                   + dt.timedelta(seconds=lease_seconds))
                    .where(_ours(mailbox)).execute())
        if not kept:  # the lease ran out and another worker took over: stop here
            break
        mailbox.last_uid = uid
    return read
