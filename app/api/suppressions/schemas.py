import email_validator
import marshmallow as ma
from marshmallow import validate

from app.api.core.schemas import Schema, UTCDateTime, envelope
from app.api.fields import MailAddress
from app.api.paging import cursor_envelope
from app.services.suppressions import (
    ALREADY_PRESENT,
    CREATED,
    EMAIL,
    KINDS,
    MAX_ITEMS,
    SOURCE_API,
    kind_of,
)

INVALID = "invalid"
# Suppression.reason: where a suppression came from.
SOURCES = (SOURCE_API, "unsubscribed", "bounced")
RESULTS = (CREATED, ALREADY_PRESENT, INVALID)
_address = MailAddress()


def domain_value(text):
    """A domain as leads' addresses carry it: lower-case, ASCII (``xn--``) form, checked
    by the same library and rules as a lead's address."""
    text = text.strip().rstrip(".")
    if not text or "@" in text:
        raise ma.ValidationError("Give a domain name such as acme.com, without an @.")
    try:
        checked = email_validator.validate_email(
            f"postmaster@{text}", check_deliverability=False, allow_smtputf8=False,
            allow_quoted_local=False, allow_domain_literal=False, allow_display_name=False)
    except email_validator.EmailNotValidError as exc:
        raise ma.ValidationError(str(exc).replace("postmaster@", "")) from exc
    return checked.ascii_domain.lower()


def normal_value(text, kind=None):
    """``text`` as stored: an address (``kind`` email, or an @ in it) or a domain."""
    kind = kind or kind_of(text)
    if kind == EMAIL:
        if "@" not in text:
            raise ma.ValidationError("An email suppression needs a whole address.")
        return _address.deserialize(text).lower()
    return domain_value(text)


class SuppressionInSchema(Schema):
    """An address or domain to suppress: one item of an add request."""
    value = ma.fields.String(required=True, validate=validate.Length(1, 254), metadata={
        "description": "An address (jane@acme.com) or a whole domain (acme.com).",
        "example": "acme.com"})
    kind = ma.fields.String(validate=validate.OneOf(KINDS), metadata={
        "description": "email or domain; by default, email when the value has an @."})
    reason = ma.fields.String(allow_none=True, validate=validate.Length(0, 500), metadata={
        "description": "Why, in your words; shown back in the list."})

    @ma.post_load
    def _normalise(self, data, **kwargs):
        try:
            data["value"] = normal_value(data["value"].strip(), data.get("kind"))
        except ma.ValidationError as exc:
            raise ma.ValidationError({"value": exc.messages}) from exc
        data["kind"] = kind_of(data["value"])
        return data


class SuppressionsAddSchema(Schema):
    """Addresses and domains to add to a workspace's suppression list."""
    # Items are checked one by one (each bad one is answered with its index while the
    # good ones are added), so the body documents them as loosely as it accepts them.
    CHECKED_ALONE = ("suppressions",)
    suppressions = ma.fields.List(
        ma.fields.Dict(), required=True, validate=validate.Length(1, MAX_ITEMS),
        metadata={"description": f"Up to {MAX_ITEMS:,} objects: value (required), kind, "
                                 "reason. Each is validated alone."})


class WorkspaceQuerySchema(Schema):
    workspace = ma.fields.String(required=True, validate=validate.Length(1, 100),
                                 metadata={"description": "Workspace slug"})


class SuppressionListQuerySchema(WorkspaceQuerySchema):
    kind = ma.fields.String(validate=validate.OneOf(KINDS),
                            metadata={"description": "Only addresses, or only domains."})
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(1, 100),
                              metadata={"description": "Page size, 1 to 100."})
    starting_after = ma.fields.String(validate=validate.Length(1, 254), metadata={
        "description": "Cursor: the value of the last suppression of the previous page "
                       "(pagination.next_cursor)."})


class SuppressionDeleteQuerySchema(WorkspaceQuerySchema):
    value = ma.fields.String(required=True, validate=validate.Length(1, 254), metadata={
        "description": "The address or domain to take off the list (any case; a domain "
                       "in Unicode or xn-- form)."})


class SuppressionSchema(Schema):
    """An address, or a whole domain, the workspace never mails."""
    value = ma.fields.String(required=True, attribute="email", metadata={
        "description": "The address, or the domain (lower-case, international domains "
                       "in their xn-- form)."})
    kind = ma.fields.String(required=True, validate=validate.OneOf(KINDS), metadata={
        "description": "email (one address) or domain (every address at it)."})
    reason = ma.fields.String(required=True, allow_none=True, attribute="note", metadata={
        "description": "The reason given when it was added through the API."})
    source = ma.fields.String(required=True, attribute="reason", metadata={
        "enum": list(SOURCES),
        "description": "How it got on the list: added through the API, an unsubscribe "
                       "link, or a hard bounce."})
    created_at = UTCDateTime(required=True, metadata={"description": "When it was added."})


class SuppressionResultSchema(Schema):
    """What became of one item of an add request."""
    index = ma.fields.Integer(required=True, metadata={
        "description": "The item's position in the request."})
    value = ma.fields.Raw(required=True, allow_none=True, metadata={
        "description": "The value as stored (as sent, when invalid)."})
    kind = ma.fields.String(required=True, allow_none=True, validate=validate.OneOf(KINDS),
                            metadata={"description": "email or domain (null when invalid)."})
    result = ma.fields.String(required=True, validate=validate.OneOf(RESULTS), metadata={
        "description": "created; already_present (on the list, or earlier in this "
                       "request: left as it was); invalid (see errors)."})
    errors = ma.fields.Dict(metadata={"description": "Why an invalid item was refused, "
                                                     "by field."})


class SuppressionsAddedSchema(Schema):
    """What an add request did: counts by result, and each item's result."""
    created = ma.fields.Integer(required=True, metadata={"description": "Items added."})
    already_present = ma.fields.Integer(required=True, metadata={
        "description": "Items already on the list, or repeated in this request."})
    invalid = ma.fields.Integer(required=True, metadata={
        "description": "Items refused; see their errors in results."})
    leads_ended = ma.fields.Integer(required=True, metadata={
        "description": "Open leads of the workspace the new suppressions ended "
                       "(status suppressed)."})
    results = ma.fields.List(ma.fields.Nested(SuppressionResultSchema), required=True,
                             metadata={"description": "One per item, in request order."})


class SuppressionDeletedSchema(Schema):
    """The address or domain taken off the list."""
    value = ma.fields.String(required=True, metadata={"description": "The value removed, "
                                                                     "as it was stored."})
    deleted = ma.fields.Boolean(required=True, metadata={"description": "Always true."})


SuppressionsAddedEnvelope = envelope(SuppressionsAddedSchema, "SuppressionsAddedEnvelope")
SuppressionDeletedEnvelope = envelope(SuppressionDeletedSchema, "SuppressionDeletedEnvelope")


SuppressionListEnvelope = cursor_envelope(SuppressionSchema, "SuppressionListEnvelope")
