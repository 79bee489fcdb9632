from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from app import clock
from app.models.base import BaseModel, new_id
from app.models.tenancy import Tenant, Workspace

MAILBOX_ACTIVE, MAILBOX_PAUSED, MAILBOX_ERROR = "active", "paused", "error"
MAILBOX_STATUSES = (MAILBOX_ACTIVE, MAILBOX_PAUSED, MAILBOX_ERROR)
SECURITY_MODES = ("none", "starttls", "ssl")


class Mailbox(BaseModel):
    """A tenant's own sending account: SMTP to send, optionally IMAP to read replies.

    Passwords are Fernet tokens (app.crypto), never the passwords themselves.
    """

    id = CharField(primary_key=True, default=lambda: new_id("mbx"))
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    workspace = ForeignKeyField(Workspace, on_delete="CASCADE", index=False)
    email = CharField(max_length=254)
    from_name = CharField(max_length=100, null=True)

    smtp_host = CharField(max_length=253)
    smtp_port = IntegerField()
    smtp_security = CharField(max_length=10)
    smtp_username = CharField(max_length=254)
    smtp_password = TextField()

    imap_host = CharField(max_length=253, null=True)
    imap_port = IntegerField(null=True)
    imap_security = CharField(max_length=10, null=True)
    imap_username = CharField(max_length=254, null=True)
    imap_password = TextField(null=True)
    imap_folder = CharField(max_length=200, null=True)

    daily_limit = IntegerField(default=40)
    timezone = CharField(max_length=64, default="UTC")
    warmup_enabled = BooleanField(default=False)
    warmup_start = IntegerField(default=10)
    warmup_increment = IntegerField(default=5)
    warmup_started_at = DateTimeField(null=True)
    min_gap_seconds = IntegerField(default=120)
    random_gap_seconds = IntegerField(default=180)

    status = CharField(max_length=10, default=MAILBOX_ACTIVE)
    last_error = TextField(null=True)
    # The earliest moment the mailbox may send again (its gap, or its daily cap being
    # reached), so that a sender can pass over a mailbox that cannot send until then.
    next_send_at = DateTimeField(null=True)

    # IMAP reading state: the folder's UIDVALIDITY and the last UID handed on, so each
    # message is read once; a lease so that one worker at a time polls the mailbox.
    imap_error = TextField(null=True)
    imap_failures = IntegerField(default=0)
    uidvalidity = BigIntegerField(null=True)
    last_uid = BigIntegerField(default=0)
    lease_until = DateTimeField(null=True)
    lease_token = CharField(max_length=40, null=True)
    next_poll_at = DateTimeField(null=True)

    updated_at = DateTimeField(default=clock.now)

    class Meta:
        indexes = (
            (("workspace", "email"), True),
            (("workspace", "created_at", "id"), False),
            (("next_poll_at",), False),
        )

    @property
    def has_imap(self):
        return self.imap_host is not None
