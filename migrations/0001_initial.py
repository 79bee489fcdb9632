"""Tenants, workspaces, API keys, campaigns and their event log.

Defaults that are Python callables (ids, timestamps, settings) live in the
app's models; the schema only needs the columns. JSON is kept as TEXT.
"""
from peewee import *


def up(migrator, db):
    class Tenant(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        name = CharField(max_length=200)
        class Meta:
            database = db
            table_name = 'tenant'
    db.create_tables([Tenant])

    class ApiKey(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        tenant = ForeignKeyField(Tenant, on_delete='CASCADE')
        name = CharField(max_length=200, default='default')
        prefix = CharField(max_length=20)
        key_hash = CharField(unique=True, max_length=64)
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'api_key'
    db.create_tables([ApiKey])

    class Workspace(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        tenant = ForeignKeyField(Tenant, on_delete='CASCADE')
        slug = CharField(unique=True, max_length=100)
        name = CharField(max_length=200)
        class Meta:
            database = db
            table_name = 'workspace'
    db.create_tables([Workspace])

    class Campaign(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        tenant = ForeignKeyField(Tenant, on_delete='CASCADE')
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE', index=False)
        name = CharField(max_length=200)
        goal = CharField(max_length=20, default='lead_gen')
        status = CharField(max_length=20, default='draft')
        sequence = TextField()
        settings = TextField()
        version = IntegerField(default=1)
        sent_count = IntegerField(default=0)
        opened_count = IntegerField(default=0)
        replied_count = IntegerField(default=0)
        clicked_count = IntegerField(default=0)
        bounced_count = IntegerField(default=0)
        unsubscribed_count = IntegerField(default=0)
        updated_at = DateTimeField()
        launched_at = DateTimeField(null=True)
        completed_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'campaign'
            indexes = (
                (('workspace', 'created_at', 'id'), False),
                (('workspace', 'status', 'created_at', 'id'), False),
            )
    db.create_tables([Campaign])

    class CampaignEvent(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        campaign = ForeignKeyField(Campaign, on_delete='CASCADE')
        action = CharField(max_length=20)
        from_status = CharField(max_length=20)
        to_status = CharField(max_length=20)
        api_key = ForeignKeyField(ApiKey, null=True, on_delete='SET NULL')
        class Meta:
            database = db
            table_name = 'campaign_event'
    db.create_tables([CampaignEvent])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('campaign_event'))
    migrator.migrate(migrator.drop_table('campaign'))
    migrator.migrate(migrator.drop_table('workspace'))
    migrator.migrate(migrator.drop_table('api_key'))
    migrator.migrate(migrator.drop_table('tenant'))
