"""The one Api subclass and the schema bits every resource shares.

Every error leaves through here as ``{"success": false, "error": {code, message, details}}``:
our own AppErrors, webargs validation errors, Flask's HTTP errors and anything unexpected.
"""
import functools
import http
import json
import logging
import math
from collections.abc import Mapping

import marshmallow as ma
import orjson
import peewee
from flask import g, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api as BaseApi
from flask_smorest import Blueprint as BaseBlueprint
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from playhouse.pool import MaxConnectionsExceeded
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, InternalServerError, UnsupportedMediaType

from app import clock
from app.api import idempotency
from app.database import discard_connection
from app.errors import AppError, NotFound, RateLimited, Unauthorized
from app.services import auth

log = logging.getLogger("app.api")

BEARER = "bearerAuth"


# ---- shared schema bits ---------------------------------------------------------------

NUL_ERROR = "Must not contain NUL characters."


class Schema(ma.Schema):
    class Meta:
        ordered = True

    def _serialize(self, obj, *, many=False):
        """marshmallow's dump loop, without its per-field call chain where it adds nothing.

        A list page dumps some 260 fields; for each, marshmallow calls serialize ->
        get_value -> get_attribute -> utils.get_value -> _get_value_for_key before the
        field's own ``_serialize``, which was a third of the request. Here a field that
        keeps marshmallow's default lookup reads the value straight off a dict or an
        object and calls its ``_serialize`` directly; a String, Integer or Boolean whose
        value already has the exact type is left as it is (what their ``_serialize``
        returns). Anything else (a missing value, dump
        defaults, dotted attributes, an object with ``__getitem__``, fields or schemas
        that override the lookup) goes through ``Field.serialize`` as before.
        tests/api/test_fast_dump.py checks both paths give the same result.
        """
        if many and obj is not None:
            return [self._serialize(item) for item in obj]
        plan = self.__dict__.get("_dump_plan")
        if plan is None:
            plan = self._dump_plan = _dump_plan(self)
        missing = ma.missing
        if type(obj) is dict:
            lookup = 1
        elif obj is None or hasattr(obj, "__getitem__"):
            lookup = 0
        else:
            lookup = 2
        accessor = self.get_attribute
        ret = self.dict_class()
        for key, name, source, field, exact, nested in plan:
            if source is None or not lookup:
                value = missing
            elif lookup == 1:
                value = obj.get(source, missing)
            else:
                value = getattr(obj, source, missing)
            if value is missing:
                value = field.serialize(name, obj, accessor=accessor)
                if value is missing:
                    continue
            elif value is None and (exact is not None or nested is not None):
                pass
            elif nested is not None:
                value = (nested._serialize(value) if exact is not list else
                         [None if each is None else nested._serialize(each) for each in value])
            elif type(value) is not exact:
                value = field._serialize(value, name, obj)
            ret[key] = value
        return ret

    @ma.validates_schema(pass_original=True, skip_on_field_errors=False)
    def _no_nul(self, data, original_data, **kwargs):
        # Postgres text cannot hold NUL (SQLite can): refuse it on both, as a field error
        # reported with the others. Nested schemas check their own level; Dict and Raw
        # contents are stored as JSON, where NUL is escaped.
        if not isinstance(original_data, Mapping):  # a JSON object, or a query string
            return
        errors = {name: [NUL_ERROR] for name, value in original_data.items()
                  if name in self.load_fields and _has_nul(value)}
        if errors:
            raise ma.ValidationError(errors)


_PASS_THROUGH = {ma.fields.String: str, ma.fields.Integer: int, ma.fields.Boolean: bool}


def _dump_plan(schema):
    """Per dump field: (key, name, source, field, exact type, nested schema).

    source None: the field goes the slow way. A nested schema is given when a plain
    Nested field of one object holds one of ours without dump hooks (or a List holds
    such a field; exact is then ``list``): its loop is called straight away, which is
    what Nested._serialize -> Schema.dump come to.
    """
    default_lookup = type(schema).get_attribute is ma.Schema.get_attribute
    plan = []
    for name, field in schema.dump_fields.items():
        source = field.attribute if field.attribute is not None else name
        direct = (default_lookup and field._CHECK_ATTRIBUTE and "." not in source
                  and type(field).serialize is ma.fields.Field.serialize
                  and type(field).get_value is ma.fields.Field.get_value)
        exact = _PASS_THROUGH.get(type(field))
        if exact is int and field.as_string:
            exact = None
        nested = _plain_nested(field)
        if nested is None and type(field) is ma.fields.List:
            # A List of such a Nested field: each item through the loop (List._serialize).
            nested = _plain_nested(field.inner)
            exact = list if nested is not None else None
        key = field.data_key if field.data_key is not None else name
        plan.append((key, name, source if direct else None, field, exact, nested))
    return tuple(plan)


def _plain_nested(field):
    """The schema of a Nested field of one object, ours and without dump hooks, or None."""
    if type(field) is not ma.fields.Nested or field.many:
        return None
    inner = field.schema
    if (isinstance(inner, Schema) and not inner.many
            and not inner._hooks[PRE_DUMP] and not inner._hooks[POST_DUMP]):
        return inner
    return None


def _has_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value)


class UTCDateTime(ma.fields.DateTime):
    """Naive UTC from the database (a datetime, or SQLite's stored text where a list
    reads columns raw), dumped as ``2025-11-01T10:00:00Z`` (clock.utc_text)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else clock.utc_text(value)


class ErrorBodySchema(Schema):
    code = ma.fields.String(required=True, metadata={
        "example": "not_found", "pattern": "^[a-z][a-z0-9]*(_[a-z0-9]+)*$",
        "description": "Machine-readable, in snake_case."})
    message = ma.fields.String(required=True, metadata={
        "minLength": 1, "description": "A sentence a person can act on."})
    details = ma.fields.Dict(required=True, metadata={
        "description": "Specifics, such as `fields` (the invalid fields and why)."})


class ErrorSchema(Schema):
    """What every 4xx and 5xx answer is."""
    success = ma.fields.Boolean(required=True, metadata={"enum": [False]})
    error = ma.fields.Nested(ErrorBodySchema, required=True)


class PaginationSchema(Schema):
    total = ma.fields.Integer(required=True)
    limit = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)
    has_more = ma.fields.Boolean(required=True)


class DeletedSchema(Schema):
    id = ma.fields.String(required=True)
    deleted = ma.fields.Boolean(required=True)


def envelope(schema, name, *, paginated=False):
    """``{"success": true, "data": <schema>}`` (plus ``pagination``) as a named schema."""
    fields = {
        "success": ma.fields.Boolean(required=True, dump_default=True,
                                     metadata={"enum": [True]}),
        "data": ma.fields.Nested(schema, required=True, many=paginated),
    }
    if paginated:
        fields["pagination"] = ma.fields.Nested(PaginationSchema, required=True)
    return Schema.from_dict(fields, name=name)


def error_body(status, code, message, details=None):
    return {"success": False,
            "error": {"code": code, "message": message, "details": details or {}}}


# ---- JSON out -------------------------------------------------------------------------

_ORJSON_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS)


class JSONProvider(DefaultJSONProvider):
    """Response bodies encoded by orjson: what Flask's encoder writes (compact, keys in
    the schemas' order, dates and the like through Flask's ``default``) in a fraction of
    the time. Text outside ASCII is sent as UTF-8 instead of ``\\u`` escapes; both are
    the same JSON. A value orjson refuses (an integer beyond 64 bits) falls back to
    Flask's encoder.
    """

    sort_keys = False

    def _encode(self, obj):
        try:
            return orjson.dumps(obj, default=self.default, option=_ORJSON_OPTIONS)
        except TypeError:
            return super().dumps(obj, separators=(",", ":")).encode()

    def dumps(self, obj, **kwargs):
        if kwargs:
            return super().dumps(obj, **kwargs)
        return self._encode(obj).decode()

    def response(self, *args, **kwargs):
        if self._app.debug or self.compact is False:
            return super().response(*args, **kwargs)
        body = self._encode(self._prepare_response_obj(args, kwargs))
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)


# ---- HTTP errors as codes people can act on -----------------------------------------

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


class Api(BaseApi):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        super()._register_error_handlers()
        self._app.register_error_handler(AppError, self.handle_app_error)
        self._app.register_error_handler(peewee.OperationalError, self.handle_database_down)
        self._app.register_error_handler(peewee.InterfaceError, self.handle_database_down)
        self._app.register_error_handler(MaxConnectionsExceeded, self.handle_database_down)
        self._app.register_error_handler(Exception, self.handle_unexpected)

    def handle_database_down(self, error):
        """The database is unreachable or overloaded: a 503 the client can retry."""
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
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
            details = {"max_bytes": _max_length()}
        return error_body(status, code, message, details), status, headers

    def handle_unexpected(self, error):
        if isinstance(error, HTTPException):
            return self.handle_http_exception(error)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return self.handle_http_exception(InternalServerError())


def _max_length():
    from flask import current_app
    return current_app.config.get("MAX_CONTENT_LENGTH")


def _flatten_locations(messages):
    """webargs nests errors by location; bodies and queries rarely mix, so merge them."""
    out = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            out.update(errors)
        else:
            out[location] = errors
    return out


# ---- authentication --------------------------------------------------------------------

def bearer_secret():
    """The API key the request carries (``Authorization: Bearer <key>``), or None."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else None


def key_digest():
    """The request's key digest (auth.digest), or None: worked out once a request, for
    the rate limit (its counter's name) and for authentication (the lookup)."""
    if "key_digest" not in g:
        g.key_digest = auth.digest(bearer_secret())
    return g.key_digest


def require_api_key():
    key = auth.authenticate(key_digest())
    g.api_key = key
    g.tenant = key.tenant
    g.idempotency_scope = key.tenant_id


def _finite(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


class StrictJSONParser(FlaskParser):
    """JSON as RFC 8259 has it: no NaN or Infinity, no number that overflows to one.

    Bodies nested past the interpreter's recursion limit, or with integers too long to
    convert, are malformed JSON to the client (400), not a server error.
    """

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return webargs_core.missing
        raw = req.get_data(cache=True)
        text = raw.decode("utf-8")  # UnicodeDecodeError: webargs answers 400
        try:
            return json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as exc:
            raise json.JSONDecodeError(str(exc) or type(exc).__name__, text or " ", 0) from None


    def load_querystring(self, req, schema):
        """The query string as a plain dict when no field of the schema takes a list.

        webargs wraps it in a proxy that asks the schema, on every read, whether a name
        may repeat; without list fields its answer is always the first value, which is
        what ``to_dict()`` gives.
        """
        multiple = schema.__dict__.get("_query_takes_lists")
        if multiple is None:
            # webargs' own rule for which names may repeat (List and Tuple fields).
            multiple = schema._query_takes_lists = bool(
                MultiDictProxy(MultiDict(), schema).multiple_keys)
        if multiple:
            return super().load_querystring(req, schema)
        return req.args.to_dict()


class Blueprint(BaseBlueprint):
    """A blueprint whose every route needs an API key and documents the errors it gives."""

    ARGUMENTS_PARSER = StrictJSONParser()

    def __init__(self, *args, authenticated=True, authenticate=None, **kwargs):
        super().__init__(*args, **kwargs)
        check = authenticate or (require_api_key if authenticated else None)
        if check is not None:
            self.before_request(check)
        self.before_request(_no_nul_in_path)
        # After authentication, which names the scope of Idempotency-Keys.
        self.before_request(idempotency.before)
        self.after_request(idempotency.after)

    def errors(self, *statuses):
        """Document error responses (all share the error envelope).

        Every operation may answer 503 (database unavailable). The 429 of a rate-limited
        route is documented by app.api.headers_doc, by the rule the limit itself follows.
        """
        def decorator(func):
            for status in dict.fromkeys(statuses + (503,)):
                documented = self.alt_response(status, response=http.HTTPStatus(status).name)
                # alt_response wraps the view only to carry its documentation: keep the
                # documentation on the view itself, without a call layer per status.
                func._apidoc = documented(func)._apidoc
            return func
        return decorator

    def idempotent(self, func):
        """Document the Idempotency-Key header (and its 409s) on a POST."""
        return self.errors(409)(self._header_parameter(func, IDEMPOTENCY_KEY_PARAMETER))

    def conditional(self, func):
        """Document the If-Match header (and its 412) on a change of one campaign."""
        return self.errors(412)(self._header_parameter(func, IF_MATCH_PARAMETER))

    def _header_parameter(self, func, parameter):
        # doc() replaces a list it is given again: carry the ones already documented.
        documented = getattr(func, "_apidoc", {}).get("manual_doc", {}).get("parameters", [])
        return self.doc(parameters=[*documented, parameter])(func)

    def arguments(self, schema, *, location="json", required=True, **kwargs):
        """Parse arguments; a JSON body must also arrive as JSON.

        webargs reads a body sent as another media type (or no body at all) as ``{}``, so
        ``PATCH`` would answer 200 having silently ignored every field. Such a request is
        a 415 instead, and the 400 of a body that does not parse is documented with it.
        """
        if location == "query":
            # An unknown parameter is a typo the client needs to hear about (422).
            kwargs.setdefault("unknown", ma.RAISE)
        if isinstance(schema, type):
            # webargs would build a schema from a class on every request (a deep copy of
            # its fields); one instance serves them all.
            schema = schema()
        parse = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json":
            return parse

        def decorator(func):
            parsed = parse(func)

            @functools.wraps(parsed)
            def view(*args, **kw):
                _require_json_body(required)
                return parsed(*args, **kw)
            return self.errors(400, 415)(view)
        return decorator


def _no_nul_in_path():
    # No id or token holds a NUL, and Postgres refuses one in a query: nothing is there.
    if any(isinstance(v, str) and "\x00" in v for v in (request.view_args or {}).values()):
        raise NotFound()


def _require_json_body(required):
    if is_json_request(request):
        return
    if required or request.get_data(cache=True):
        raise UnsupportedMediaType()


IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header", "name": idempotency.HEADER, "required": False,
    "description": "Retry safely: the same key and body within 24 hours replay the first "
                   "answer; the same key with another body is a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255}}
IF_MATCH_PARAMETER = {
    "in": "header", "name": "If-Match", "required": False,
    "description": "The ETag you read (\"v3\"); a stale one is a 412 and nothing changes.",
    "schema": {"type": "string"}}
ETAG_HEADER = {"ETag": {"description": "The campaign's version, for If-Match.",
                        "schema": {"type": "string", "example": '"v3"'}}}


# ---- ETag / If-Match -------------------------------------------------------------------

def etag_of(resource):
    return f'"v{resource.version}"'


def with_etag(body, resource):
    return body, {"ETag": etag_of(resource)}


def etag_version(req):
    """The versions an ``If-Match`` header accepts; None when absent or ``*``.

    If-Match compares strongly (RFC 9110, 13.1.1): a weak tag (``W/"v3"``) or a tag that
    names no version of ours matches nothing, so the change is refused with a 412.
    """
    header = req.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith('"') and tag.endswith('"') and len(tag) > 2:
            inner = tag[1:-1]
            if inner.startswith("v") and inner[1:].isdigit():
                versions.add(int(inner[1:]))
    return frozenset(versions)


def page_body(items, total, args, *, has_more=None):
    """The list envelope: ``data`` plus ``pagination`` from limit/offset and the total."""
    if has_more is None:
        has_more = args["offset"] + len(items) < total
    return {"success": True, "data": items,
            "pagination": {"total": total, "limit": args["limit"], "offset": args["offset"],
                           "has_more": has_more}}
