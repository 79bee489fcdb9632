"""Webhook endpoints, their outbox of events and one delivery per event and endpoint."""
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

    class Webhook(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        tenant = ForeignKeyField(Tenant, on_delete='CASCADE')
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE', index=False)
        url = CharField(max_length=2048)
        events = TextField()
        description = CharField(max_length=500, default='')
        secret = CharField(max_length=100)
        status = CharField(max_length=20, default='enabled')
        disabled_reason = TextField(null=True)
        failing_since = DateTimeField(null=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'webhook'
            indexes = (
                (('workspace', 'created_at', 'id'), False),
            )

    class WebhookEvent(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        type = CharField(max_length=40)
        payload = TextField()
        class Meta:
            database = db
            table_name = 'webhook_event'

    class WebhookDelivery(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        webhook = ForeignKeyField(Webhook, on_delete='CASCADE', index=False)
        event = ForeignKeyField(WebhookEvent, on_delete='CASCADE')
        status = CharField(max_length=20, default='pending')
        attempts = IntegerField(default=0)
        next_attempt_at = DateTimeField(null=True)
        last_status_code = IntegerField(null=True)
        last_error = TextField(null=True)
        delivered_at = DateTimeField(null=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'webhook_delivery'
            indexes = (
                (('status', 'next_attempt_at'), False),
                (('webhook', 'created_at', 'id'), False),
            )
    db.create_tables([Webhook, WebhookEvent, WebhookDelivery])


def down(migrator, db):
    for table in ('webhook_delivery', 'webhook_event', 'webhook'):
        migrator.migrate(migrator.drop_table(table))
