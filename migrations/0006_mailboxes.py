"""Tenants' own mailboxes (SMTP to send, IMAP to read replies), and the mailbox each
message goes out from.

Passwords are stored as Fernet tokens made by the application; the schema only needs
text columns for them. Independent of 0005: it touches only tables of 0001 and 0002.
"""
from peewee import *


def up(migrator, db):
    class Tenant(Model):
        id = CharField(primary_key=True)
        class Meta:
            database = db
            table_name = 'tenant'

    class Workspace(Model):
        id = CharField(primary_key=True)
        class Meta:
            database = db
            table_name = 'workspace'

    class Mailbox(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        tenant = ForeignKeyField(Tenant, on_delete='CASCADE')
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE', index=False)
        email = CharField(max_length=254)
        from_name = CharField(null=True, max_length=100)
        smtp_host = CharField(max_length=253)
        smtp_port = IntegerField()
        smtp_security = CharField(max_length=10)
        smtp_username = CharField(max_length=254)
        smtp_password = TextField()
        imap_host = CharField(null=True, max_length=253)
        imap_port = IntegerField(null=True)
        imap_security = CharField(null=True, max_length=10)
        imap_username = CharField(null=True, max_length=254)
        imap_password = TextField(null=True)
        imap_folder = CharField(null=True, max_length=200)
        daily_limit = IntegerField(default=40)
        timezone = CharField(max_length=64, default='UTC')
        warmup_enabled = BooleanField(default=False)
        warmup_start = IntegerField(default=10)
        warmup_increment = IntegerField(default=5)
        warmup_started_at = DateTimeField(null=True)
        min_gap_seconds = IntegerField(default=120)
        random_gap_seconds = IntegerField(default=180)
        status = CharField(max_length=10, default='active')
        last_error = TextField(null=True)
        next_send_at = DateTimeField(null=True)
        imap_error = TextField(null=True)
        imap_failures = IntegerField(default=0)
        uidvalidity = BigIntegerField(null=True)
        last_uid = BigIntegerField(default=0)
        lease_until = DateTimeField(null=True)
        lease_token = CharField(null=True, max_length=40)
        next_poll_at = DateTimeField(null=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'mailbox'
            indexes = (
                (('workspace', 'email'), True),
                (('workspace', 'created_at', 'id'), False),
                (('next_poll_at',), False),
            )
    db.create_tables([Mailbox])

    migrator.migrate(
        migrator.add_column('message', 'mailbox_id', ForeignKeyField(
            Mailbox, field=Mailbox.id, null=True, on_delete='SET NULL', index=False)),
        migrator.add_index('message', ('mailbox_id', 'created_at'), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('message', 'message_mailbox_id_created_at'),
        migrator.drop_column('message', 'mailbox_id'),
        migrator.drop_table('mailbox'),
    )
