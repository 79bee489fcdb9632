"""One JSON line per request, with a request id (taken from X-Request-ID or made).

Hand-written rather than a logging library: it is a formatter of twenty lines, and it
must never print a header or a body (keys, secrets and messages stay out of logs), nor
a working token: a URL that carries one is logged as its route (``/u/<token>``).
"""
import itertools
import logging
import os
import re
import time
import uuid

import orjson
from flask import g, has_request_context, request

REQUEST_ID = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Route variables that hold a secret: a path matching a route with one is logged as the
# route. Paths no route matched, under the links' prefixes, lose their last part too.
SECRET_ARGUMENTS = frozenset({"token"})
_LINK_PATH = re.compile(r"^(/u/|/t/[a-z]/)[^/]*")
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")
access = logging.getLogger("app.access")


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
                "level": record.levelname.lower(), "logger": record.name,
                "message": record.getMessage()}
        if has_request_context() and "request_id" in g:
            line["request_id"] = g.request_id
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


JsonFormatter.converter = time.gmtime


def configure(level):
    """JSON lines on stderr for every logger (once per process)."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    # SQL with its parameters would put lead data and message bodies in the log.
    logging.getLogger("peewee").setLevel(logging.WARNING)


# A random prefix per process and a counter: unique across workers and nodes, without
# reading the kernel's random pool on every request. Made again after a fork.
_prefix = (None, None)
_SEQUENCE = itertools.count(1)


def _new_request_id():
    global _prefix
    if _prefix[0] != os.getpid():
        _prefix = (os.getpid(), uuid.uuid4().hex[:16])
    return f"{_prefix[1]}{next(_SEQUENCE):016x}"


def _start():
    given = request.headers.get(REQUEST_ID, "")
    g.request_id = given if _SAFE_ID.match(given) else _new_request_id()
    g.request_started = time.perf_counter()


def _finish(response):
    response.headers[REQUEST_ID] = g.get("request_id", "")
    started = g.get("request_started")
    tenant = g.get("tenant")
    if not access.isEnabledFor(logging.INFO):
        return response
    fields = {
        "method": request.method, "path": logged_path(), "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "tenant": tenant.id if tenant is not None else None,
        "remote_addr": request.remote_addr}
    # Logger.info would first walk the stack for the caller's file and line, which no
    # access line prints: the record is made and handled directly instead.
    access.handle(access.makeRecord(access.name, logging.INFO, __file__, 0, "request", (),
                                    None, extra={"fields": fields}))
    return response


def logged_path():
    rule = request.url_rule
    if rule is not None and SECRET_ARGUMENTS & rule.arguments:
        return _CONVERTER.sub(r"<\1>", rule.rule)
    if rule is None:
        return _LINK_PATH.sub(r"\1<token>", request.path)
    return request.path


def init_app(app):
    app.before_request(_start)
    app.after_request(_finish)
