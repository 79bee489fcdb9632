"""Leads, the messages sent to them, and each workspace's suppression list."""
from peewee import *


def up(migrator, db):
    class Campaign(Model):
        id = CharField(primary_key=True)
        class Meta:
            database = db
            table_name = 'campaign'

    class Workspace(Model):
        id = CharField(primary_key=True)
        class Meta:
            database = db
            table_name = 'workspace'

    class Lead(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        campaign = ForeignKeyField(Campaign, on_delete='CASCADE', index=False)
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE', index=False)
        email = CharField(max_length=254)
        first_name = CharField(null=True, max_length=200)
        last_name = CharField(null=True, max_length=200)
        company = CharField(null=True, max_length=200)
        custom_fields = TextField()
        status = CharField(max_length=20, default='pending')
        current_step = IntegerField(default=0)
        next_send_at = DateTimeField(null=True)
        last_sent_at = DateTimeField(null=True)
        attempts = IntegerField(default=0)
        last_error = TextField(null=True)
        opened_at = DateTimeField(null=True)
        clicked_at = DateTimeField(null=True)
        replied_at = DateTimeField(null=True)
        finished_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'lead'
            indexes = (
                (('campaign', 'email'), True),
                (('campaign', 'status', 'created_at', 'id'), False),
                (('campaign', 'created_at', 'id'), False),
                (('next_send_at', 'campaign'), False),
                (('workspace', 'email'), False),
            )
    db.create_tables([Lead])

    class Message(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        lead = ForeignKeyField(Lead, on_delete='CASCADE', index=False)
        campaign = ForeignKeyField(Campaign, on_delete='CASCADE', index=False)
        step = IntegerField()
        status = CharField(max_length=20, default='claimed')
        message_id = CharField(unique=True, max_length=255)
        subject = TextField(null=True)
        claim_token = CharField(null=True, max_length=40)
        claimed_until = DateTimeField(null=True)
        local_day = CharField(max_length=10)
        sent_at = DateTimeField(null=True)
        error = TextField(null=True)
        class Meta:
            database = db
            table_name = 'message'
            indexes = (
                (('lead', 'step'), True),
                (('campaign', 'local_day'), False),
                (('status', 'claimed_until'), False),
            )
    db.create_tables([Message])

    class Suppression(Model):
        created_at = DateTimeField()
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE', index=False)
        email = CharField(max_length=254)
        reason = CharField(max_length=20)
        class Meta:
            database = db
            table_name = 'suppression'
            indexes = (
                (('workspace', 'email'), True),
            )
    db.create_tables([Suppression])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('suppression'))
    migrator.migrate(migrator.drop_table('message'))
    migrator.migrate(migrator.drop_table('lead'))
