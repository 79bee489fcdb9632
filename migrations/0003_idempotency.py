"""Stored first answers of POSTs sent with an Idempotency-Key."""
from peewee import *


def up(migrator, db):
    class IdempotencyRecord(Model):
        created_at = DateTimeField()
        scope = CharField(max_length=64)
        key = CharField(max_length=255)
        fingerprint = CharField(max_length=64)
        status = IntegerField(null=True)
        body = TextField(null=True)
        headers = TextField(null=True)
        class Meta:
            database = db
            table_name = 'idempotency_record'
            indexes = (
                (('scope', 'key'), True),
                (('created_at',), False),
            )
    db.create_tables([IdempotencyRecord])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('idempotency_record'))
