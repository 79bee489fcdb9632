from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from app.models.base import BaseModel, JSONField, new_id
from app.models.campaign import Campaign
from app.models.mailbox import Mailbox
from app.models.tenancy import Workspace


class Lead(BaseModel):
    id = CharField(primary_key=True, default=lambda: new_id("lead"))
    campaign = ForeignKeyField(Campaign, backref="leads", on_delete="CASCADE", index=False)
    workspace = ForeignKeyField(Workspace, on_delete="CASCADE", index=False)
    email = CharField(max_length=254)
    first_name = CharField(max_length=200, null=True)
    last_name = CharField(max_length=200, null=True)
    company = CharField(max_length=200, null=True)
    custom_fields = JSONField(default=dict)
    status = CharField(max_length=20, default="pending")  # app.lifecycle.LeadStatus
    # The last step mailed (0: none yet); the next one is current_step + 1.
    current_step = IntegerField(default=0)
    # When the next step is due; NULL while a dispatcher holds it or nothing is due.
    next_send_at = DateTimeField(null=True)
    last_sent_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    last_error = TextField(null=True)
    opened_at = DateTimeField(null=True)
    clicked_at = DateTimeField(null=True)
    replied_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            (("campaign", "email"), True),
            (("campaign", "status", "created_at", "id"), False),
            (("campaign", "created_at", "id"), False),
            (("next_send_at", "campaign"), False),
            # One campaign's due leads in order: its claim, and its next stamp.
            (("campaign", "next_send_at"), False),
            (("workspace", "email"), False),
        )

    @classmethod
    def for_campaign(cls, campaign):
        return cls.select().where(cls.campaign == campaign)

    def variables(self):
        """Template variables: custom fields by name, the built-ins win on a clash."""
        return {**(self.custom_fields or {}),
                "firstName": self.first_name or "", "lastName": self.last_name or "",
                "email": self.email, "company": self.company or ""}




class Message(BaseModel):
    """One (lead, step) mail. The unique index is the at-most-once guarantee."""

    id = CharField(primary_key=True, default=lambda: new_id("msg"))
    lead = ForeignKeyField(Lead, backref="messages", on_delete="CASCADE", index=False)
    campaign = ForeignKeyField(Campaign, on_delete="CASCADE", index=False)
    step = IntegerField()
    status = CharField(max_length=20, default="claimed")  # app.lifecycle.MessageStatus
    message_id = CharField(max_length=255, unique=True)
    subject = TextField(null=True)
    # Which dispatcher pass holds the row, and until when (see app.worker.claims).
    claim_token = CharField(max_length=40, null=True)
    claimed_until = DateTimeField(null=True)
    # The campaign's local calendar day at claim time: the daily limit counts these.
    local_day = CharField(max_length=10)
    sent_at = DateTimeField(null=True)
    error = TextField(null=True)
    # The mailbox it goes out from, for its daily cap; NULL: the operator's relay (all
    # mail goes through the relay until claims pick mailboxes).
    mailbox = ForeignKeyField(Mailbox, null=True, on_delete="SET NULL", index=False)

    class Meta:
        indexes = (
            (("lead", "step"), True),
            (("mailbox", "created_at"), False),
            (("campaign", "local_day"), False),
            (("status", "claimed_until"), False),
        )


class Suppression(BaseModel):
    """Addresses a workspace must never mail again (unsubscribed or hard-bounced)."""

    workspace = ForeignKeyField(Workspace, on_delete="CASCADE", index=False)
    email = CharField(max_length=254)
    reason = CharField(max_length=20)

    class Meta:
        indexes = ((("workspace", "email"), True),)
