import marshmallow as ma
from marshmallow import validate

from app.api.core.schemas import Schema, UTCDateTime, envelope
from app.api.fields import TrimmedString
from app.api.paging import WorkspacePageQuerySchema, cursor_envelope
from app.models import DELIVERY_STATUSES, WEBHOOK_STATUSES
from app.services.webhooks import EVENT_TYPES

EVENT_CHOICES = ("*", *EVENT_TYPES)


def _events(**kwargs):
    return ma.fields.List(
        ma.fields.String(validate=validate.OneOf(EVENT_CHOICES)),
        validate=validate.Length(1, len(EVENT_CHOICES)),
        metadata={"description": "Event types to receive, or [\"*\"] for all."}, **kwargs)


def _url(**kwargs):
    return ma.fields.String(
        validate=validate.Length(1, 2048),
        metadata={"description": "Where events are POSTed: an https URL.",
                  "example": "https://crm.example.com/hooks/campaigns"}, **kwargs)


# ---- requests ----------------------------------------------------------------------

class WebhookListQuerySchema(WorkspacePageQuerySchema):
    """A page of a workspace's webhooks."""


class WebhookCreateSchema(Schema):
    """A new webhook: where to POST which events."""
    workspace_slug = ma.fields.String(required=True, validate=validate.Length(1, 100),
                                      metadata={"description": "The workspace whose events "
                                                               "it receives.",
                                                "example": "acme-corp"})
    url = _url(required=True)
    events = _events(load_default=lambda: ["*"])
    description = TrimmedString(load_default="", validate=validate.Length(0, 500),
                                metadata={"description": "A note for you."})


class WebhookUpdateSchema(Schema):
    """The changes to make: only the keys sent change."""
    url = _url()
    events = _events()
    description = TrimmedString(validate=validate.Length(0, 500),
                                metadata={"description": "A note for you."})
    status = ma.fields.String(validate=validate.OneOf(WEBHOOK_STATUSES),
                              metadata={"description": "Enabling again clears the failure."})


class DeliveryListQuerySchema(Schema):
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(1, 100),
                              metadata={"description": "Deliveries on a page."})
    starting_after = ma.fields.String(
        validate=validate.Length(1, 64),
        metadata={"description": "Cursor: the id of the last delivery of the previous page."})


# ---- responses ---------------------------------------------------------------------

class WebhookSchema(Schema):
    """An endpoint that receives a workspace's events."""
    id = ma.fields.String(required=True, metadata={"example": "whk_01jd3v0m4h8x3q2w9e7r6t5y4u"})
    workspace_slug = ma.fields.String(required=True, attribute="workspace.slug",
                                      metadata={"example": "acme-corp"})
    url = ma.fields.String(required=True, metadata={
        "example": "https://crm.example.com/hooks/campaigns"})
    events = ma.fields.List(ma.fields.String(validate=validate.OneOf(EVENT_CHOICES)),
                            required=True, metadata={"description": "The event types it "
                                                                    "receives; `*`: all."})
    description = ma.fields.String(required=True, metadata={"description": "A note for you."})
    status = ma.fields.String(required=True, validate=validate.OneOf(WEBHOOK_STATUSES))
    disabled_reason = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "Why it was disabled, when it was."})
    failing_since = UTCDateTime(required=True, allow_none=True,
                                metadata={"description": "Since when every attempt failed."})
    created_at = UTCDateTime(required=True)
    updated_at = UTCDateTime(required=True)


class WebhookCreatedSchema(WebhookSchema):
    """A webhook just made, with its signing secret (shown this once)."""
    secret = ma.fields.String(
        required=True, metadata={"description": "The signing secret (Standard Webhooks). "
                                                "Shown this once: keep it."})


class DeliverySchema(Schema):
    """One event's delivery to one webhook, with its attempts."""
    id = ma.fields.String(required=True, metadata={"example": "whd_01jd3v0m4h8x3q2w9e7r6t5y4u"})
    event_id = ma.fields.String(required=True, attribute="event.id",
                                metadata={"description": "The webhook-id header."})
    type = ma.fields.String(required=True, attribute="event.type",
                            validate=validate.OneOf(EVENT_TYPES))
    status = ma.fields.String(required=True, validate=validate.OneOf(DELIVERY_STATUSES))
    attempts = ma.fields.Integer(required=True, metadata={"description": "Attempts so far."})
    last_status_code = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "The HTTP status of the last attempt's answer, if one came."})
    last_error = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "Why the last attempt failed, when it did."})
    next_attempt_at = UTCDateTime(required=True, allow_none=True, metadata={
        "description": "When the next attempt is due, if one is."})
    delivered_at = UTCDateTime(required=True, allow_none=True)
    created_at = UTCDateTime(required=True)


WebhookEnvelope = envelope(WebhookSchema, "WebhookEnvelope")
WebhookCreatedEnvelope = envelope(WebhookCreatedSchema, "WebhookCreatedEnvelope")
WebhookListEnvelope = envelope(WebhookSchema, "WebhookListEnvelope", paginated=True)
DeliveryEnvelope = envelope(DeliverySchema, "WebhookDeliveryEnvelope")
DeliveryListEnvelope = cursor_envelope(DeliverySchema, "WebhookDeliveryListEnvelope")
