"""The response headers every client may read, written into the OpenAPI document.

The hooks that set them (request ids, rate limits, idempotency, Retry-After) sit outside
the views, so nothing documents them per route: this apispec plugin adds them to each
operation's own responses, and ``document_shared`` to the shared error responses.
"""
from http import HTTPStatus

from apispec import BasePlugin

from app.api.core.schemas import codes_for
from app.api.idempotency import HEADER as IDEMPOTENCY_KEY
from app.api.idempotency import REPLAYED
from app.api.limits import LIMIT, LIMITED_PREFIX, REMAINING, RESET
from app.api.requestlog import REQUEST_ID

HEADERS = {
    REQUEST_ID: {
        "description": "This request's id: the one sent in X-Request-ID (letters, digits "
                       "and ._:-, up to 128) or one made here. Quote it when asking "
                       "about a request; it is on the request's log line.",
        "schema": {"type": "string"}},
    LIMIT: {
        "description": f"On every answer under {LIMITED_PREFIX}: requests this API key "
                       "may make in the window of its tightest limit.",
        "schema": {"type": "integer"}},
    REMAINING: {
        "description": "Requests left in that window, this one counted.",
        "schema": {"type": "integer"}},
    RESET: {
        "description": "When that window ends, in seconds since the Unix epoch.",
        "schema": {"type": "integer"}},
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"}},
    REPLAYED: {
        "description": "`true` when this is the stored answer to an earlier request with "
                       "the same Idempotency-Key and body (nothing was done again).",
        "schema": {"type": "string", "enum": ["true"]}},
}
RATE_LIMIT = (LIMIT, REMAINING, RESET)
# Shared error responses: which headers each carries besides the request id.
SHARED = {"TOO_MANY_REQUESTS": ("Retry-After",),
          "SERVICE_UNAVAILABLE": ("Retry-After",),
          "CONFLICT": ("Retry-After",)}  # an Idempotency-Key still in use


def _ref(name):
    return {"$ref": f"#/components/headers/{name}"}


def _add(response, names):
    headers = response.setdefault("headers", {})
    for name in names:
        headers.setdefault(name, _ref(name))


class ResponseHeadersPlugin(BasePlugin):
    def init_spec(self, spec):
        for name, header in HEADERS.items():
            spec.components.header(name, header)

    def operation_helper(self, path=None, operations=None, **kwargs):
        """The request id on every response of ours; on a rate-limited route (the prefix
        app.api.limits limits), the rate-limit headers and the shared 429 answer;
        Idempotent-Replayed where an Idempotency-Key is taken."""
        limited = (path or "").startswith(LIMITED_PREFIX)
        for operation in (operations or {}).values():
            if limited:
                # By name: apispec makes it a reference to the shared response.
                operation.setdefault("responses", {}).setdefault(
                    str(HTTPStatus.TOO_MANY_REQUESTS.value), HTTPStatus.TOO_MANY_REQUESTS.name)
            replayable = any(p.get("name") == IDEMPOTENCY_KEY
                             for p in operation.get("parameters", ()) if isinstance(p, dict))
            for response in operation.get("responses", {}).values():
                if not isinstance(response, dict) or "$ref" in response:
                    continue  # a shared response: see document_shared
                _add(response, (REQUEST_ID, *(RATE_LIMIT if limited else ()),
                                *((REPLAYED,) if replayable else ())))


def document_shared(spec):
    """The shared error responses: the request id, the rate-limit headers (they serve
    the tenant routes and others alike, and say so), what each one adds, and the error
    codes each may carry."""
    for name, response in spec.components.responses.items():
        _add(response, (REQUEST_ID, *RATE_LIMIT, *SHARED.get(name, ())))
        status = HTTPStatus.__members__.get(name)
        codes = codes_for(status.value if status else None)
        if codes:
            listed = ", ".join(f"`{code}`" for code in codes)
            response["description"] = f"{response['description']}. Codes: {listed}."
    prune_unused_schemas(spec)


def prune_unused_schemas(spec):
    """flask-smorest registers a schema for its own pagination header, which these
    documents do not use: a component nothing refers to would be a class of its own in
    every generated client."""
    used = set()
    pending = [spec.to_dict()]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                used.add(ref.rpartition("/")[2])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for name in [name for name in spec.components.schemas if name not in used]:
        del spec.components.schemas[name]
