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


def from_row(model, values):
    """A model instance from a row in ``model._meta.sorted_fields`` order, converted
    the way peewee converts its own results."""
    fields = model._meta.sorted_fields
    instance = model(__no_default__=True)  # no defaults: no ids minted for a read
    instance.__data__ = {f.name: (None if v is None else f.python_value(v))
                         for f, v in zip(fields, values, strict=True)}
    return instance
