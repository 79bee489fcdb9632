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


def page_body(items, total, args, *, has_more=None):
    """The list envelope: ``data`` plus ``pagination`` from limit/offset and the total."""
    if has_more is None:
        has_more = args["offset"] + len(items) < total
    return {"success": True, "data": items,
            "pagination": {"total": total, "limit": args["limit"], "offset": args["offset"],
                           "has_more": has_more}}
