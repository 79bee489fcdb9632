"""Peewee models. ``MODELS`` lists them in dependency order for migrations and tests."""
from app.models.base import BaseModel, JSONField, from_row, new_id
from app.models.campaign import (
    ACTIVE,
    COMPLETED,
    DRAFT,
    GOALS,
    MAX_STEPS,
    PAUSED,
    STATUSES,
    WEEKDAYS,
    Campaign,
    CampaignCount,
    CampaignEvent,
    default_settings,
)
from app.models.idempotency import IdempotencyRecord
from app.models.lead import (
    BOUNCED,
    CLAIMED,
    COUNTED_MESSAGE_STATUSES,
    FAILED,
    IN_PROGRESS,
    LEAD_COMPLETED,
    LEAD_STATUSES,
    MESSAGE_BOUNCED,
    MESSAGE_FAILED,
    OPEN_LEAD_STATUSES,
    PENDING,
    REPLIED,
    SENDING,
    SENT,
    UNCONFIRMED,
    UNSUBSCRIBED,
    Lead,
    Message,
    Suppression,
)
from app.models.tenancy import ApiKey, Tenant, Workspace, hash_key
from app.models.webhook import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    DELIVERY_STATUSES,
    WEBHOOK_DISABLED,
    WEBHOOK_ENABLED,
    WEBHOOK_STATUSES,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)

MODELS = [Tenant, Workspace, ApiKey, Campaign, CampaignEvent, Lead, Message, Suppression,
          IdempotencyRecord, CampaignCount, Webhook, WebhookEvent, WebhookDelivery]

__all__ = [
    "BOUNCED", "CLAIMED", "COUNTED_MESSAGE_STATUSES", "FAILED", "IN_PROGRESS", "LEAD_COMPLETED",
    "LEAD_STATUSES", "MESSAGE_BOUNCED", "MESSAGE_FAILED", "OPEN_LEAD_STATUSES", "PENDING",
    "REPLIED", "IdempotencyRecord", "SENDING", "SENT", "UNCONFIRMED", "UNSUBSCRIBED", "Lead", "Message", "Suppression",
    "ACTIVE", "COMPLETED", "DRAFT", "GOALS", "MAX_STEPS", "MODELS", "PAUSED", "STATUSES",
    "WEEKDAYS", "ApiKey", "BaseModel", "Campaign", "CampaignCount", "CampaignEvent", "JSONField", "Tenant", "from_row",
    "Workspace", "default_settings", "hash_key", "new_id",
    "DELIVERY_DELIVERED", "DELIVERY_FAILED", "DELIVERY_PENDING", "DELIVERY_STATUSES",
    "WEBHOOK_DISABLED", "WEBHOOK_ENABLED", "WEBHOOK_STATUSES", "Webhook", "WebhookDelivery",
    "WebhookEvent",
]
