from peewee import AutoField, CharField, IntegerField, TextField

from app.models.base import BaseModel


class IdempotencyRecord(BaseModel):
    """The first answer to a POST sent with an Idempotency-Key, replayed on retries.

    ``status`` is NULL while the first request is still running.
    """

    id = AutoField()
    scope = CharField(max_length=64)  # the tenant id, or "inbound"
    key = CharField(max_length=255)
    fingerprint = CharField(max_length=64)
    status = IntegerField(null=True)
    body = TextField(null=True)
    # The answer's headers a replay must repeat (ETag, Location), as JSON.
    headers = TextField(null=True)

    class Meta:
        table_name = "idempotency_record"
        indexes = ((("scope", "key"), True), (("created_at",), False))
