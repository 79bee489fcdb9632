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
    # The campaign's mailbox this lead is mailed from: chosen at its first claim and
    # kept once it has had mail (one From, one thread). NULL: none yet, the relay, or
    # its mailbox was deleted.
    mailbox = ForeignKeyField(Mailbox, null=True, on_delete="SET NULL")

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
    """Addresses, or whole domains, a workspace must never mail again.

    ``email`` holds the value: an address (it has an @) or a domain (it has none), both
    lower-case with the domain in its ASCII (IDNA, ``xn--``) form, as leads store theirs;
    so one ``IN`` over a lead's address and its domain finds either kind.
    ``reason`` says where it came from: ``unsubscribed``, ``bounced`` or ``api``.
    """

    workspace = ForeignKeyField(Workspace, on_delete="CASCADE", index=False)
    email = CharField(max_length=254)
    reason = CharField(max_length=20)
    kind = CharField(max_length=10, default="email")  # email | domain
    # The tenant's own words on why (set through the API).
    note = TextField(null=True)

    class Meta:
        indexes = ((("workspace", "email"), True),
                   (("workspace", "created_at", "id"), False))

    @classmethod
    def reasons_for(cls, workspace_id, emails):
        """{address: reason} for those of ``emails`` (lower-case, ASCII domains) the
        workspace suppresses, by address or by their domain (the address wins)."""
        emails = list(emails)
        if not emails:
            return {}
        values = set(emails) | {email.rpartition("@")[2] for email in emails}
        found = dict(cls.select(cls.email, cls.reason)
                     .where((cls.workspace == workspace_id) & cls.email.in_(sorted(values)))
                     .tuples())
        reasons = {}
        for email in emails:
            reason = found.get(email) or found.get(email.rpartition("@")[2])
            if reason:
                reasons[email] = reason
        return reasons
