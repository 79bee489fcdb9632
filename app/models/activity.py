"""A campaign's activity: every event about it, kept whether or not a webhook listens."""
from peewee import CharField

from app.models.base import BaseModel, JSONField


class ActivityEvent(BaseModel):
    """One event of a campaign, as app.outbox.emit records it. Its id is the event's id:
    the ``webhook-id`` of its deliveries, when a webhook took it."""

    id = CharField(primary_key=True)
    # Plain columns, no foreign keys. On Postgres a foreign key's check takes a KEY
    # SHARE lock on the campaign's row at every event, ahead of the lead's row, and
    # maybe_complete's FOR UPDATE of the campaign (taken after the lead) would then
    # deadlock with it. Deleting a campaign deletes its log (app.services.campaigns);
    # the log outlives a lead that is removed.
    campaign_id = CharField(max_length=40)
    lead_id = CharField(max_length=40, null=True)
    type = CharField(max_length=40)
    # The event's data as webhooks receive it, less the workspace's slug.
    data = JSONField(default=dict)

    class Meta:
        indexes = ((("campaign_id", "created_at", "id"), False),)

    @property
    def message_id(self):
        return (self.data or {}).get("message_id")

    @property
    def step(self):
        return (self.data or {}).get("step")
