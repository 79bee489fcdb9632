"""Webhook endpoints, the events written for them (an outbox) and each delivery."""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from app import clock
from app.models.base import BaseModel, JSONField, new_id
from app.models.tenancy import Tenant, Workspace

WEBHOOK_ENABLED, WEBHOOK_DISABLED = "enabled", "disabled"
WEBHOOK_STATUSES = (WEBHOOK_ENABLED, WEBHOOK_DISABLED)
DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_FAILED = "pending", "delivered", "failed"
DELIVERY_STATUSES = (DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_FAILED)


class Webhook(BaseModel):
    id = CharField(primary_key=True, default=lambda: new_id("whk"))
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    workspace = ForeignKeyField(Workspace, on_delete="CASCADE", index=False)
    url = CharField(max_length=2048)
    # Event types, or ["*"] for every type.
    events = JSONField(default=lambda: ["*"])
    description = CharField(max_length=500, default="")
    # The signing key as a Fernet token under ENCRYPTION_KEYS (app.crypto): HMAC needs
    # it in the clear at delivery, so it cannot be hashed. The API shows it once, at
    # creation. A value still in the clear (``whsec_...``, written before 0007) is read
    # as it is until ``flask --app wsgi mailboxes rekey`` encrypts it.
    secret = TextField()
    status = CharField(max_length=20, default=WEBHOOK_ENABLED)
    disabled_reason = TextField(null=True)
    # Since when every attempt to this endpoint has failed (None: the last one worked).
    failing_since = DateTimeField(null=True)
    updated_at = DateTimeField(default=clock.now)

    class Meta:
        indexes = ((("workspace", "created_at", "id"), False),)

    def subscribes_to(self, event_type):
        return "*" in self.events or event_type in self.events


class WebhookEvent(BaseModel):
    """One event as it is sent: its id is the ``webhook-id`` of every attempt."""

    id = CharField(primary_key=True, default=lambda: new_id("evt"))
    workspace = ForeignKeyField(Workspace, on_delete="CASCADE")
    type = CharField(max_length=40)
    # The whole body, {"type", "timestamp", "data"}: every retry sends the same bytes.
    payload = JSONField()


class WebhookDelivery(BaseModel):
    """One event for one endpoint. ``next_attempt_at`` is also the claim's lease: a worker
    moves it forward while it sends, so a worker that dies leaves the row due again."""

    id = CharField(primary_key=True, default=lambda: new_id("whd"))
    webhook = ForeignKeyField(Webhook, on_delete="CASCADE", index=False)
    event = ForeignKeyField(WebhookEvent, on_delete="CASCADE")
    status = CharField(max_length=20, default=DELIVERY_PENDING)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True, default=clock.now)
    last_status_code = IntegerField(null=True)
    last_error = TextField(null=True)
    delivered_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=clock.now)

    class Meta:
        indexes = (
            (("status", "next_attempt_at"), False),
            (("webhook", "created_at", "id"), False),
        )
