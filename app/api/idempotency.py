"""Idempotency-Key on POST: retries get the first answer back instead of a second effect.

The scope (the tenant, or "inbound") is set by the blueprint's authentication hook, so
keys of different tenants never meet. Answers of 5xx are not kept: a retry runs again.
"""
import json
import logging

from flask import current_app, g, request
from peewee import DatabaseError, InterfaceError

from app.errors import BadRequest
from app.services import idempotency as service

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
REPLAYED_HEADERS = ("ETag", "Location", "Retry-After")

log = logging.getLogger("app.api")


def _canonical_body():
    raw = request.get_data(cache=True)
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        # Not JSON (a raw message, or a body the view will refuse) or nested too deep to
        # rewrite: the bytes as sent.
        return raw


def before():
    if request.method != "POST" or HEADER not in request.headers:
        return None
    scope = getattr(g, "idempotency_scope", None)
    if scope is None:
        return None
    key = request.headers[HEADER].strip()
    if not key or len(key) > 255 or not key.isprintable():
        raise BadRequest("Idempotency-Key must be 1 to 255 printable characters.",
                         code="invalid_idempotency_key")
    outcome, record = service.begin(
        scope, key, service.fingerprint(request.method, request.path, _canonical_body()))
    if outcome == "replay":
        response = current_app.response_class(record.body, status=record.status,
                                              mimetype="application/json")
        response.headers.update(service.replay_headers(record))
        response.headers[REPLAYED] = "true"
        return response
    g.idempotency_record = record
    return None


def after(response):
    record = g.pop("idempotency_record", None)
    if record is None:
        return response
    try:
        if response.status_code >= 500:
            service.abandon(record)
        else:
            kept = {name: response.headers[name] for name in REPLAYED_HEADERS
                    if name in response.headers}
            service.finish(record, response.status_code, response.get_data(as_text=True),
                           kept)
    except (DatabaseError, InterfaceError) as exc:
        # The answer stands (the work is done, or it failed on its own); the record stays
        # "in progress" until service.ABANDONED lets a retry in.
        log.warning("idempotency record %s not updated: %s", record.id,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return response
