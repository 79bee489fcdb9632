"""Idempotency keys: the same key and the same request within 24 hours get the first
answer again, without the work being done twice.

The record is inserted (and committed) before the work starts, so a concurrent retry
with the same key finds it and does not run the work a second time.
"""
import datetime as dt
import hashlib
import json

from peewee import IntegrityError

from app import clock
from app.database import connection, transaction
from app.errors import Conflict
from app.models import IdempotencyRecord

TTL = dt.timedelta(hours=24)
# A first request still "running" after this long died with its worker: let a retry in.
ABANDONED = dt.timedelta(minutes=5)


def fingerprint(method, path, body):
    return hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.encode(), body)).hexdigest()


def begin(scope, key, fingerprint_):
    """Returns ("run", record) for a new key, or ("replay", record) for a finished one."""
    now = clock.now()
    for _ in range(2):
        try:
            with transaction():
                record = IdempotencyRecord.create(scope=scope, key=key,
                                                  fingerprint=fingerprint_, created_at=now)
            return "run", record
        except IntegrityError:
            pass
        existing = IdempotencyRecord.get_or_none((IdempotencyRecord.scope == scope)
                                                 & (IdempotencyRecord.key == key))
        if existing is None:
            continue  # expired and deleted by a concurrent request: try again
        expired = existing.created_at < now - TTL
        abandoned = existing.status is None and existing.created_at < now - ABANDONED
        if expired or abandoned:
            IdempotencyRecord.delete().where(IdempotencyRecord.id == existing.id).execute()
            continue
        if existing.fingerprint != fingerprint_:
            raise Conflict(
                "This Idempotency-Key was used with a different request; use a new key.",
                code="idempotency_key_reused", details={"idempotency_key": key})
        if existing.status is None:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                code="idempotency_key_in_use", details={"idempotency_key": key},
                headers={"Retry-After": "1"})
        return "replay", existing
    raise Conflict("This Idempotency-Key is contended; retry shortly.",
                   code="idempotency_key_in_use", headers={"Retry-After": "1"})


def finish(record, status, body, headers=None):
    IdempotencyRecord.update(status=status, body=body,
                             headers=json.dumps(headers or {})).where(
        IdempotencyRecord.id == record.id).execute()


def replay_headers(record):
    return json.loads(record.headers) if record.headers else {}


def abandon(record):
    """The work failed on our side (5xx): forget the key so a retry runs it again.

    A 503 for a broken database connection has dropped the request's connection by now,
    hence a connection of its own when there is none.
    """
    with connection():
        IdempotencyRecord.delete().where(IdempotencyRecord.id == record.id).execute()


def purge_expired():
    return IdempotencyRecord.delete().where(
        IdempotencyRecord.created_at < clock.now() - TTL).execute()
