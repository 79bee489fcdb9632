"""A campaign's activity log; suppression by domain, with the tenant's note; webhook
signing secrets kept encrypted (a Fernet token is longer than the 100 characters the
clear secret took).

The secrets already stored stay readable as they are; ``flask --app wsgi mailboxes
rekey`` encrypts them (a migration imports peewee only, so it cannot encrypt).
"""
from peewee import *


def up(migrator, db):
    class ActivityEvent(Model):
        id = CharField(primary_key=True)
        created_at = DateTimeField()
        campaign_id = CharField(max_length=40)
        lead_id = CharField(max_length=40, null=True)
        type = CharField(max_length=40)
        data = TextField()
        class Meta:
            database = db
            table_name = 'activity_event'
            indexes = (
                (('campaign_id', 'created_at', 'id'), False),
            )
    db.create_tables([ActivityEvent])

    migrator.migrate(
        migrator.add_column('suppression', 'kind',
                            CharField(max_length=10, default='email')),
        migrator.add_column('suppression', 'note', TextField(null=True)),
        migrator.add_index('suppression', ('workspace_id', 'created_at', 'id'), False),
    )
    # SQLite keeps text of any length in a VARCHAR column; changing its type there would
    # rebuild the table, and dropping the old one would cascade to its deliveries.
    if not isinstance(db, SqliteDatabase):
        migrator.migrate(migrator.alter_column_type('webhook', 'secret', TextField()))


def down(migrator, db):
    if not isinstance(db, SqliteDatabase):
        migrator.migrate(migrator.alter_column_type('webhook', 'secret',
                                                    CharField(max_length=100)))
    migrator.migrate(
        migrator.drop_index('suppression', 'suppression_workspace_id_created_at_id'),
        migrator.drop_column('suppression', 'note'),
        migrator.drop_column('suppression', 'kind'),
        migrator.drop_table('activity_event'),
    )
