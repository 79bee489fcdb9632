"""The Blueprint every resource uses, and the parser that reads its arguments."""
import functools
import http
import json
import math

import marshmallow as ma
from flask import request
from flask_smorest import Blueprint as BaseBlueprint
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import UnsupportedMediaType

from app.api import idempotency
from app.api.core.auth import require_api_key
from app.api.core.conditional import IF_MATCH_PARAMETER
from app.errors import NotFound

NOT_AN_OBJECT = "The body must be a JSON object."

IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header", "name": idempotency.HEADER, "required": False,
    "description": "Retry safely: the same key and body within 24 hours replay the first "
                   "answer; the same key with another body is a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255}}


def _finite(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _invalid_json(exc):
    # What webargs answers for a body that does not parse: a 400 the error handler words.
    abort(400, exc=exc, messages={"json": ["Invalid JSON body."]})


class StrictJSONParser(FlaskParser):
    """JSON as RFC 8259 has it: no NaN or Infinity, no number that overflows to one.

    Bodies nested past the interpreter's recursion limit, or with integers too long to
    convert, are malformed JSON to the client (400), not a server error. webargs offers
    no public hook for the decoder, so ``load_json`` (public) reads the body itself.
    """

    def load_json(self, req, schema):
        if not is_json_request(req):
            return webargs_core.missing
        raw = req.get_data(cache=True)
        if not raw:
            return webargs_core.missing  # as webargs: no body is no arguments
        try:
            text = raw.decode("utf-8")
            return json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
        except (UnicodeDecodeError, RecursionError, ValueError) as exc:
            # JSONDecodeError is a ValueError; so are NaN, Infinity and huge integers.
            _invalid_json(exc)

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        """A body that is not an object gets a sentence, not marshmallow's words."""
        messages = error.messages
        if isinstance(messages, dict) and "json" in messages:
            body = messages["json"]
            # marshmallow's "type" error is what a value other than an object gets.
            if body == {ma.exceptions.SCHEMA: [schema.error_messages["type"]]}:
                error = ma.ValidationError({"json": {ma.exceptions.SCHEMA: [NOT_AN_OBJECT]}})
        return super().handle_error(error, req, schema, error_status_code=error_status_code,
                                    error_headers=error_headers)


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
                func = self.alt_response(status, response=http.HTTPStatus(status).name)(func)
            return func
        return decorator

    def accepts(self, *, if_match=False, idempotency_key=False):
        """Document the request headers a view reads (and the errors they bring).

        One decorator for both: flask-smorest's ``doc`` replaces a parameter list given
        again, so the parameters are documented together.
        """
        parameters, statuses = [], []
        if if_match:
            parameters.append(IF_MATCH_PARAMETER)
            statuses.append(412)
        if idempotency_key:
            parameters.append(IDEMPOTENCY_KEY_PARAMETER)
            statuses.append(409)

        def decorator(func):
            return self.errors(*statuses)(self.doc(parameters=parameters)(func))
        return decorator

    @property
    def idempotent(self):
        """Document the Idempotency-Key header (and its 409s) on a POST."""
        return self.accepts(idempotency_key=True)

    def operation(self, operation_id, status, schema, *, errors=(401, 404), query=None,
                  body=None, example=None, headers=None, if_match=False,
                  idempotency_key=False):
        """The stack every view wears, as one decorator: its operationId, its query and
        body arguments (the view gets them in that order), its answer, its errors and
        the request headers it reads (see ``accepts``).
        """
        def decorator(func):
            if if_match or idempotency_key:
                func = self.accepts(if_match=if_match, idempotency_key=idempotency_key)(func)
            func = self.response(status, schema, headers=headers)(self.errors(*errors)(func))
            if body is not None:
                func = self.arguments(body, example=example)(func)
            if query is not None:
                func = self.arguments(query, location="query")(func)
            return self.doc(operationId=operation_id)(func)
        return decorator

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
