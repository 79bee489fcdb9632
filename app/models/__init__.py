"""Peewee models. ``MODELS`` lists them in dependency order for migrations and tests."""
from app.models.base import BaseModel, JSONField, new_id
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
    CampaignEvent,
    default_settings,
)
from app.models.tenancy import ApiKey, Tenant, Workspace, hash_key

MODELS = [Tenant, Workspace, ApiKey, Campaign, CampaignEvent]

__all__ = [
    "ACTIVE", "COMPLETED", "DRAFT", "GOALS", "MAX_STEPS", "MODELS", "PAUSED", "STATUSES",
    "WEEKDAYS", "ApiKey", "BaseModel", "Campaign", "CampaignEvent", "JSONField", "Tenant",
    "Workspace", "default_settings", "hash_key", "new_id",
]
