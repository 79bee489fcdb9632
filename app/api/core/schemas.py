"""The Schema base every request and response schema derives from, and the shared ones."""
import re
from collections.abc import Mapping

import marshmallow as ma

from app import clock
from app.api.core.fastdump import FastDump
from app.api.core.messages import SCHEMA_MESSAGES, UNKNOWN_FIELD, in_plain_words

NUL_ERROR = "Must not contain NUL characters."
SURROGATE_ERROR = "Must be valid Unicode text (it holds a lone surrogate such as \\ud800)."


def has_surrogate(value):
    """True when text anywhere in a JSON value (keys included) holds a lone surrogate.

    JSON's ``\\ud800`` escape decodes to text no encoder can write (UTF-8 for the
    database, the mail, the log), so such text is refused at the door. A loop, not
    recursion: a body may nest as deep as the parser allows.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def _encodable(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _checks_itself(field):
    """A Nested field (or a list of them) is checked by its own schema, field by field."""
    inner = field.inner if isinstance(field, ma.fields.List) else field
    return isinstance(inner, ma.fields.Nested)


def _snake_case(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class Schema(FastDump, ma.Schema):
    # Fields whose items the view loads one by one with their own schema (and reports one
    # by one): their text is checked there.
    CHECKED_ALONE = ()

    # Sentences, not marshmallow's own words, in every error a client can get.
    error_messages = SCHEMA_MESSAGES

    class Meta:
        ordered = True

    def on_bind_field(self, field_name, field_obj):
        in_plain_words(field_obj)

    @ma.pre_load
    def _no_lone_surrogates(self, data, **kwargs):
        # Before any field sees the text: validators (templates, addresses) need not
        # cope with text that cannot be encoded. Nested schemas check their own level.
        if not isinstance(data, Mapping):
            return data
        errors = {}
        for name, value in data.items():
            if has_surrogate(name):
                errors[ma.exceptions.SCHEMA] = ["Field names must be valid Unicode text."]
                continue
            field = self.load_fields.get(name)
            if name in self.CHECKED_ALONE or (field is not None and _checks_itself(field)):
                continue
            if has_surrogate(value):
                errors[name] = [SURROGATE_ERROR]
        if errors:
            raise ma.ValidationError(errors)
        return data

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

    def handle_error(self, error, data, *, many, **kwargs):
        """An unknown field that is the camelCase spelling of one of ours names it."""
        messages = error.messages
        if not isinstance(messages, dict) or not isinstance(data, Mapping):
            return
        rewritten = dict(messages)
        for name, problems in messages.items():
            if problems == [UNKNOWN_FIELD] and isinstance(name, str):
                known = _snake_case(name)
                if known != name and known in self.load_fields:
                    rewritten[name] = [f"Not a known field; did you mean '{known}'?"]
        if rewritten != messages:
            raise ma.ValidationError(rewritten, data=data, valid_data=error.valid_data)


def _has_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value)


class UTCDateTime(ma.fields.DateTime):
    """Naive UTC from the database (a datetime, or SQLite's stored text where a list
    reads columns raw), dumped as ``2025-11-01T10:00:00Z`` (clock.utc_text)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else clock.utc_text(value)


# Every error code an answer may carry: its HTTP status and what it means. A test keeps it
# complete (tests/api/test_openapi_contract.py reads every code the app can raise).
ERROR_CODES = {
    "bad_request": (400, "The request is malformed."),
    "invalid_json": (400, "The body is not valid JSON."),
    "invalid_idempotency_key": (400, "The Idempotency-Key header is empty or too long."),
    "unauthorized": (401, "No API key, or not a valid one (or, on the inbound route, not "
                          "the inbound secret)."),
    "forbidden": (403, "You may not do that."),
    "not_found": (404, "No such route."),
    "workspace_not_found": (404, "None of your workspaces has that slug."),
    "campaign_not_found": (404, "None of your campaigns has that id."),
    "lead_not_found": (404, "The campaign has no lead with that id."),
    "webhook_not_found": (404, "None of your webhooks has that id."),
    "delivery_not_found": (404, "The webhook has no delivery with that id."),
    "mailbox_not_found": (404, "None of your mailboxes has that id."),
    "suppression_not_found": (404, "The workspace's suppression list has no such address "
                                   "or domain."),
    "invalid_link": (404, "A link from a mail whose token is unknown, altered or expired."),
    "method_not_allowed": (405, "The route does not take this method; see the Allow header "
                                "and `details.allowed_methods`."),
    "not_acceptable": (406, "Only application/json answers are available."),
    "conflict": (409, "The request conflicts with the resource's current state."),
    "campaign_active": (409, "The campaign is sending: pause it first."),
    "campaign_completed": (409, "The campaign is completed and changes no more."),
    "invalid_transition": (409, "The action does not apply to the campaign's status; "
                                "`details.allowed_actions` says which do."),
    "start_blocked": (409, "The campaign cannot start yet; `details.missing` lists what it "
                           "lacks (`sequence_empty`, `no_leads`, `from_email_missing`, "
                           "`no_active_mailbox`)."),
    "mailbox_exists": (409, "The workspace already has a mailbox with that address."),
    "mailbox_in_use": (409, "An active campaign sends through this mailbox alone."),
    "sender_missing": (409, "A started (active or paused) campaign must keep a sender: "
                            "settings.from_email or at least one of settings.mailboxes."),
    "idempotency_key_in_use": (409, "A request with this Idempotency-Key is still being "
                                    "answered; retry after Retry-After."),
    "idempotency_key_reused": (409, "This Idempotency-Key came with another request; use a "
                                    "new key for a new request."),
    "precondition_failed": (412, "The resource changed since the ETag sent in If-Match; "
                                 "read it again."),
    "payload_too_large": (413, "The body is larger than the server takes; "
                               "`details.max_bytes` says how large it may be."),
    "uri_too_long": (414, "The request URL is too long."),
    "unsupported_media_type": (415, "Send the body as application/json (the inbound route: "
                                    "message/rfc822)."),
    "validation_error": (422, "Some fields are invalid; `details.fields` names each with "
                              "its messages."),
    "offset_too_deep": (422, "The offset is past the deepest page an offset reaches; page "
                             "with starting_after."),
    "rate_limited": (429, "Too many requests for this API key; retry after Retry-After."),
    "internal_error": (500, "Something went wrong on the server; it has been logged."),
    "service_unavailable": (503, "The service cannot answer now; retry after Retry-After."),
    "database_unavailable": (503, "The database is unreachable or overloaded; retry after "
                                  "Retry-After."),
    "encryption_keys_missing": (503, "The server has no ENCRYPTION_KEYS, so it cannot store "
                                     "or read mailbox passwords; its operator must set "
                                     "them."),
    "encryption_key_unknown": (503, "A stored password was encrypted with a key that is no "
                                    "longer in ENCRYPTION_KEYS; its operator must add it "
                                    "back."),
    "http_error": (None, "Any other HTTP error; the message says what it was."),
}


def codes_for(status):
    """The codes an answer with this status may carry."""
    return [code for code, (code_status, _) in ERROR_CODES.items() if code_status == status]


def _code_list():
    return "\n".join(f"- `{code}` ({status or 'other'}): {meaning}"
                     for code, (status, meaning) in ERROR_CODES.items())


class ErrorBodySchema(Schema):
    """What went wrong: a code for programs, a sentence for people, and specifics."""
    code = ma.fields.String(required=True, metadata={
        "example": "campaign_not_found", "pattern": "^[a-z][a-z0-9]*(_[a-z0-9]+)*$",
        "description": "Machine-readable, in snake_case; new codes may be added. One of:"
                       "\n\n" + _code_list()})
    message = ma.fields.String(required=True, metadata={
        "minLength": 1, "description": "A sentence a person can act on.",
        "example": "No campaign 'cmp_01jd3v0m4h8x3q2w9e7r6t5y4u'."})
    details = ma.fields.Dict(required=True, metadata={
        "description": "Specifics, such as `fields` (the invalid fields and why).",
        "example": {}})


class ErrorSchema(Schema):
    """What every 4xx and 5xx answer is."""
    success = ma.fields.Boolean(required=True, metadata={"enum": [False]})
    error = ma.fields.Nested(ErrorBodySchema, required=True)


class PaginationSchema(Schema):
    """Where a page stands in the whole list."""
    total = ma.fields.Integer(required=True, metadata={"description": "Items in the list."})
    limit = ma.fields.Integer(required=True, metadata={"description": "The page size asked."})
    offset = ma.fields.Integer(required=True, metadata={
        "description": "Items before this page."})
    has_more = ma.fields.Boolean(required=True, metadata={
        "description": "True when another page follows."})


class DeletedSchema(Schema):
    """What was deleted."""
    id = ma.fields.String(required=True, metadata={"description": "Its id."})
    deleted = ma.fields.Boolean(required=True, metadata={"enum": [True]})


def envelope(schema, name, *, paginated=False):
    """``{"success": true, "data": <schema>}`` (plus ``pagination``) as a named schema."""
    fields = {
        "success": ma.fields.Boolean(required=True, dump_default=True,
                                     metadata={"enum": [True]}),
        "data": ma.fields.Nested(schema, required=True, many=paginated),
    }
    if paginated:
        fields["pagination"] = ma.fields.Nested(PaginationSchema, required=True)
    made = Schema.from_dict(fields, name=name)
    noun = schema.__name__.removesuffix("Schema")
    made.__doc__ = (f"A successful answer: a page of {noun} items in `data`." if paginated
                    else f"A successful answer: the {noun} in `data`.")
    return made


def page_body(items, total, args, *, has_more=None):
    """The list envelope: ``data`` plus ``pagination`` from limit/offset and the total."""
    if has_more is None:
        has_more = args["offset"] + len(items) < total
    return {"success": True, "data": items,
            "pagination": {"total": total, "limit": args["limit"], "offset": args["offset"],
                           "has_more": has_more}}


def load_each(schema, items):
    """Load each item alone: ``(index, data)`` of the valid ones, and ``(index, item,
    messages)`` of the others, so one bad item does not refuse the rest."""
    valid, invalid = [], []
    for index, item in enumerate(items):
        try:
            valid.append((index, schema.load(item)))
        except ma.ValidationError as exc:
            invalid.append((index, item, exc.messages))
    return valid, invalid
