import hashlib
import secrets

from peewee import CharField, DateTimeField, ForeignKeyField

from app.database import compiled, run
from app.models.base import BaseModel, new_id

KEY_PREFIX = "sk_live_"


def hash_key(secret):
    # The secret is 32 random bytes: a fast hash is enough (nothing to brute-force),
    # and it keeps the per-request lookup cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


class Tenant(BaseModel):
    id = CharField(primary_key=True, default=lambda: new_id("ten"))
    name = CharField(max_length=200)


class Workspace(BaseModel):
    id = CharField(primary_key=True, default=lambda: new_id("ws"))
    tenant = ForeignKeyField(Tenant, backref="workspaces", on_delete="CASCADE")
    slug = CharField(max_length=100, unique=True)
    name = CharField(max_length=200)

    @classmethod
    def for_tenant(cls, tenant):
        return cls.select().where(cls.tenant == tenant)


class ApiKey(BaseModel):
    id = CharField(primary_key=True, default=lambda: new_id("key"))
    tenant = ForeignKeyField(Tenant, backref="api_keys", on_delete="CASCADE")
    name = CharField(max_length=200, default="default")
    prefix = CharField(max_length=20)
    key_hash = CharField(max_length=64, unique=True)
    revoked_at = DateTimeField(null=True)

    @staticmethod
    def generate_secret():
        return KEY_PREFIX + secrets.token_urlsafe(32)

    @classmethod
    def active_by_digest(cls, digest):
        """The live key whose ``hash_key`` is ``digest``, with its tenant, or None (one
        query, every request)."""
        sql = compiled("api_key.active_by_digest", lambda: (
            cls.select(cls.id, cls.tenant, cls.key_hash, Tenant.name).join(Tenant)
            .where((cls.key_hash == "") & cls.revoked_at.is_null())))
        rows = run(sql, [digest])
        if not rows:
            return None
        key_id, tenant_id, key_hash, tenant_name = rows[0]
        key = cls(__no_default__=True, id=key_id, key_hash=key_hash)
        key.tenant = Tenant(__no_default__=True, id=tenant_id, name=tenant_name)
        return key
