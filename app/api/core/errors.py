"""The one Api subclass: every error leaves as ``{"success": false, "error": {...}}``.

Our own AppErrors, webargs validation errors, Flask's HTTP errors, an unreachable
database and anything unexpected, each registered with ``app.register_error_handler``.

It also builds its OpenAPI document when the document is first read rather than when
the app is made: converting every schema was most of ``create_app``'s time, paid by
every worker, every CLI command and every test, for a document few of them serve.
"""
import logging
import threading

import peewee
from flask import current_app, request
from flask_smorest import Api as BaseApi
from playhouse.pool import MaxConnectionsExceeded
from werkzeug.exceptions import HTTPException, InternalServerError

from app.api.core.schemas import ErrorSchema
from app.api.requestlog import logged_path
from app.database import discard_connection
from app.errors import AppError, RateLimited, Unauthorized

log = logging.getLogger("app.api")

HTTP_CODES = {
    400: ("bad_request", "The request is malformed."),
    401: ("unauthorized", Unauthorized.message),
    403: ("forbidden", "You may not do that."),
    404: ("not_found", "No such route or resource."),
    405: ("method_not_allowed", "This method is not allowed here."),
    406: ("not_acceptable", "Only application/json responses are available."),
    409: ("conflict", "The request conflicts with the current state."),
    412: ("precondition_failed", "The resource has changed since you read it."),
    413: ("payload_too_large", "The request body is too large."),
    414: ("uri_too_long", "The request URL is too long."),
    415: ("unsupported_media_type", "Send the body as application/json."),
    422: ("validation_error", "The request has invalid fields; see details."),
    429: ("rate_limited", RateLimited.message),
    500: ("internal_error", "Something went wrong on our side; it has been logged."),
    503: ("service_unavailable", "The service is temporarily unavailable; retry shortly."),
}
DATABASE_ERRORS = (peewee.OperationalError, peewee.InterfaceError, MaxConnectionsExceeded)


def error_body(status, code, message, details=None):
    return {"success": False,
            "error": {"code": code, "message": message, "details": details or {}}}


class _PathsLater:
    """Stands in for the APISpec while a blueprint registers: flask-smorest's public
    ``Blueprint.register_views_in_doc`` hands each operation to ``spec.path``, which
    keeps it for later; everything else it asks of the spec is the spec's own."""

    def __init__(self, spec, pending):
        self.spec = spec
        self.pending = pending

    def path(self, **kwargs):
        self.pending.append(lambda spec: spec.path(**kwargs))
        return self

    def __getattr__(self, name):
        return getattr(self.spec, name)


class Api(BaseApi):
    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app=None, **kwargs):
        self.openapi_spec = None
        self.pending_document = []
        self.registering = None
        self.document_lock = threading.Lock()
        super().__init__(app, **kwargs)

    @property
    def spec(self):
        """The OpenAPI document, finished at the first read: the operations registered
        so far, then what ``when_documented`` added, in that order."""
        if self.registering is not None:
            return self.registering
        if self.pending_document:
            with self.document_lock:
                # Each step leaves the list once done: a thread that finds it empty
                # finds the document whole.
                while self.pending_document:
                    self.pending_document[0](self.openapi_spec)
                    del self.pending_document[0]
        return self.openapi_spec

    @spec.setter
    def spec(self, value):
        self.openapi_spec = value

    def when_documented(self, finish):
        """Run ``finish(spec)`` when the document is built, after the operations."""
        self.pending_document.append(finish)

    def register_blueprint(self, blp, **options):
        """Flask gets the blueprint now; its operations are documented at the first
        read of the document."""
        self.registering = _PathsLater(self.openapi_spec, self.pending_document)
        try:
            super().register_blueprint(blp, **options)
        finally:
            self.registering = None

    def init_app(self, app, *, spec_kwargs=None):
        # flask-smorest registers handle_http_exception for HTTPException; the rest here.
        super().init_app(app, spec_kwargs=spec_kwargs)
        app.register_error_handler(AppError, self.handle_app_error)
        for kind in DATABASE_ERRORS:
            app.register_error_handler(kind, self.handle_database_down)
        app.register_error_handler(Exception, self.handle_unexpected)

    def handle_database_down(self, error):
        """The database is unreachable or overloaded: a 503 the client can retry."""
        log.warning("database unavailable on %s %s: %s", request.method, logged_path(),
                    str(error).splitlines()[0] if str(error) else type(error).__name__)
        discard_connection()
        return error_body(503, "database_unavailable",
                          "The database is temporarily unavailable; retry shortly."), \
            503, {"Retry-After": "2"}

    def handle_app_error(self, error):
        return error_body(error.status, error.code, error.message, error.details), \
            error.status, error.headers

    def handle_http_exception(self, error):
        status = error.code or 500
        code, message = HTTP_CODES.get(status, ("http_error", error.description))
        details = {}
        headers = {}
        data = getattr(error, "data", None) or {}
        if "messages" in data:
            # webargs: {"json": {...}} / {"query": {...}} → the offending fields.
            details = {"fields": _flatten_locations(data["messages"])}
            if status == 400:
                code, message = "invalid_json", "The body is not valid JSON."
        if data.get("message"):
            message = data["message"]
        headers.update(data.get("headers") or {})
        if status == 405:
            # The default handler drops it; clients need it to know what is allowed.
            allowed = error.get_headers()
            headers.update({k: v for k, v in allowed if k == "Allow"})
            details = {"allowed_methods": sorted(getattr(error, "valid_methods", None) or [])}
        elif status == 404 and request.url_rule is None:
            message = f"No route matches {request.method} {request.path}."
        elif status == 413:
            details = {"max_bytes": current_app.config.get("MAX_CONTENT_LENGTH")}
        return error_body(status, code, message, details), status, headers

    def handle_unexpected(self, error):
        if isinstance(error, HTTPException):
            return self.handle_http_exception(error)
        log.exception("unhandled error on %s %s", request.method, logged_path())
        return self.handle_http_exception(InternalServerError())


def _flatten_locations(messages):
    """webargs nests errors by location; bodies and queries rarely mix, so merge them."""
    out = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            out.update(errors)
        else:
            out[location] = errors
    return out
