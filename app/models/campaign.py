from peewee import CharField, CompositeKey, DateTimeField, ForeignKeyField, IntegerField, Model

from app import clock
from app.database import db
from app.models.base import BaseModel, JSONField, new_id
from app.models.tenancy import ApiKey, Tenant, Workspace

GOALS = ("awareness", "lead_gen", "sales")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_STEPS = 20


def default_settings():
    return {
        "daily_limit": 50,
        "track_opens": True,
        "track_clicks": False,
        "stop_on_reply": True,
        "timezone": "UTC",
        "schedule": {"days": ["mon", "tue", "wed", "thu", "fri"],
                     "start": "09:00", "end": "17:00"},
        "from_name": None,
        "from_email": None,
        "reply_to": None,
    }


class Campaign(BaseModel):
    id = CharField(primary_key=True, default=lambda: new_id("cmp"))
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    workspace = ForeignKeyField(Workspace, backref="campaigns", on_delete="CASCADE",
                                index=False)
    name = CharField(max_length=200)
    goal = CharField(max_length=20, default="lead_gen")
    # The status values and their meaning: app.lifecycle.CampaignStatus (a test checks
    # this default is its DRAFT; the models sit below the lifecycle and cannot import it).
    status = CharField(max_length=20, default="draft")
    sequence = JSONField(default=list)
    settings = JSONField(default=default_settings)
    # Bumped on every change: the ETag, and the guard of optimistic updates.
    version = IntegerField(default=1)
    sent_count = IntegerField(default=0)
    opened_count = IntegerField(default=0)
    replied_count = IntegerField(default=0)
    clicked_count = IntegerField(default=0)
    bounced_count = IntegerField(default=0)
    unsubscribed_count = IntegerField(default=0)
    updated_at = DateTimeField(default=clock.now)
    launched_at = DateTimeField(null=True)
    completed_at = DateTimeField(null=True)
    # When the dispatcher next visits the campaign (app.worker.claims): never later than
    # its first mail could go out, NULL while nothing is scheduled (a draft, paused,
    # completed, or no lead due). Too early costs a visit; too late would hold up mail.
    next_send_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            # The list endpoint: a workspace's campaigns newest first, optionally by status.
            (("workspace", "created_at", "id"), False),
            (("workspace", "status", "created_at", "id"), False),
            # The dispatcher's pass: the active campaigns due by now, one index range.
            (("status", "next_send_at"), False),
        )

    @property
    def stats(self):
        return {
            "sent": self.sent_count,
            "opened": self.opened_count,
            "replied": self.replied_count,
            "clicked": self.clicked_count,
            "bounced": self.bounced_count,
            "unsubscribed": self.unsubscribed_count,
        }


class CampaignEvent(BaseModel):
    """Audit log of status changes: who moved the campaign, from what, to what."""

    id = CharField(primary_key=True, default=lambda: new_id("evt"))
    campaign = ForeignKeyField(Campaign, backref="events", on_delete="CASCADE")
    action = CharField(max_length=20)
    from_status = CharField(max_length=20)
    to_status = CharField(max_length=20)
    api_key = ForeignKeyField(ApiKey, null=True, on_delete="SET NULL")


class CampaignCount(Model):
    """How many campaigns a workspace has in each status, kept by database triggers
    (migration 0004) so every write path, bulk loads included, keeps it exact. The list
    endpoint reads its total here instead of counting the campaign table each time."""

    workspace_id = CharField(max_length=40)
    status = CharField(max_length=20)
    n = IntegerField(default=0)

    class Meta:
        database = db
        legacy_table_names = False
        primary_key = CompositeKey("workspace_id", "status")
