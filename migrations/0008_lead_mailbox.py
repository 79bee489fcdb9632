"""The mailbox each lead is mailed from (sticky once it has had mail).

Deleting a mailbox sets its leads' column to NULL, found through the column's index.
"""
from peewee import *


def up(migrator, db):
    class Mailbox(Model):
        id = CharField(primary_key=True)
        class Meta:
            database = db
            table_name = 'mailbox'

    migrator.migrate(
        migrator.add_column('lead', 'mailbox_id', ForeignKeyField(
            Mailbox, field=Mailbox.id, null=True, on_delete='SET NULL', index=False)),
        migrator.add_index('lead', ('mailbox_id',), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('lead', 'lead_mailbox_id'),
        migrator.drop_column('lead', 'mailbox_id'),
    )
