"""Peewee models. ``MODELS`` lists them in dependency order for migrations and tests."""
from app.models.activity import ActivityEvent
from app.models.base import BaseModel, JSONField, new_id
from app.models.campaign import (
    GOALS,
    MAX_STEPS,
    WEEKDAYS,
    Campaign,
    CampaignCount,
    CampaignEvent,
    default_settings,
)
from app.models.idempotency import IdempotencyRecord
from app.models.lead import Lead, Message, Suppression
from app.models.mailbox import (
    MAILBOX_ACTIVE,
    MAILBOX_ERROR,
    MAILBOX_PAUSED,
    MAILBOX_STATUSES,
    SECURITY_MODES,
    Mailbox,
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

MODELS = [Tenant, Workspace, ApiKey, Campaign, CampaignEvent, Mailbox, Lead, Message,
          Suppression, IdempotencyRecord, CampaignCount, Webhook, WebhookEvent, WebhookDelivery,
          ActivityEvent]

__all__ = [
    "ActivityEvent", "GOALS", "MAX_STEPS", "MODELS", "WEEKDAYS", "ApiKey", "BaseModel", "Campaign",
    "CampaignCount", "CampaignEvent", "IdempotencyRecord", "JSONField", "Lead", "Message",
    "Suppression", "Tenant", "Workspace", "default_settings", "hash_key", "new_id",
    "DELIVERY_DELIVERED", "DELIVERY_FAILED", "DELIVERY_PENDING", "DELIVERY_STATUSES",
    "WEBHOOK_DISABLED", "WEBHOOK_ENABLED", "WEBHOOK_STATUSES", "Webhook", "WebhookDelivery",
    "WebhookEvent",
    "MAILBOX_ACTIVE", "MAILBOX_ERROR", "MAILBOX_PAUSED", "MAILBOX_STATUSES", "SECURITY_MODES",
    "Mailbox",
]
