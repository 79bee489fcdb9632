import json

from peewee import DateTimeField, Model, TextField
from ulid import ULID

from app import clock
from app.database import db


def new_id(prefix):
    """Opaque, time-sortable public id: ``cmp_01jd...`` (a lower-case ULID)."""
    return f"{prefix}_{str(ULID()).lower()}"


class JSONField(TextField):
    """JSON kept as text: portable across SQLite and Postgres, read whole, never queried."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(Model):
    created_at = DateTimeField(default=clock.now)

    class Meta:
        database = db
        legacy_table_names = False

