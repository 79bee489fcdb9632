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
from app.models.mailbox import (
    MAILBOX_ACTIVE,
    MAILBOX_ERROR,
    MAILBOX_PAUSED,
    MAILBOX_STATUSES,
    SECURITY_MODES,
    Mailbox,
)
from app.models.tenancy import ApiKey, Tenant, Workspace, hash_key

MODELS = [Tenant, Workspace, ApiKey, Campaign, CampaignEvent, Mailbox, Lead, Message,
          Suppression, IdempotencyRecord, CampaignCount]

__all__ = [
    "BOUNCED", "CLAIMED", "COUNTED_MESSAGE_STATUSES", "FAILED", "IN_PROGRESS", "LEAD_COMPLETED",
    "LEAD_STATUSES", "MESSAGE_BOUNCED", "MESSAGE_FAILED", "OPEN_LEAD_STATUSES", "PENDING",
    "REPLIED", "IdempotencyRecord", "SENDING", "SENT", "UNCONFIRMED", "UNSUBSCRIBED", "Lead", "Message", "Suppression",
    "ACTIVE", "COMPLETED", "DRAFT", "GOALS", "MAX_STEPS", "MODELS", "PAUSED", "STATUSES",
    "WEEKDAYS", "ApiKey", "BaseModel", "Campaign", "CampaignCount", "CampaignEvent", "JSONField", "Tenant", "from_row",
    "Workspace", "default_settings", "hash_key", "new_id",
    "MAILBOX_ACTIVE", "MAILBOX_ERROR", "MAILBOX_PAUSED", "MAILBOX_STATUSES", "SECURITY_MODES",
    "Mailbox",
]
