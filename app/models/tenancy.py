import functools
import hashlib
import secrets

from peewee import CharField, DateTimeField, ForeignKeyField

from app.database import Param, prepared
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
        """The live key whose ``hash_key`` is ``digest``, or None: one query on the
        key's table alone, every request. Its tenant is known by id (``key.tenant`` is a
        Tenant holding only its id), which is all a request needs of it; joining the
        tenant for its name cost a third of the lookup."""
        row = _live_key({"digest": digest}).fetchone()
        return None if row is None else _key_as_found(*row)


@functools.lru_cache(maxsize=4096)
def _key_as_found(key_id, key_hash, tenant_id):
    """The key a request found, made once per key and process (a model instance builds
    its defaults, two new ids among them, which was a sixth of a list request's own
    work). Requests only read it; the lookup itself runs every time, so a revoked key
    is refused at once."""
    return ApiKey(id=key_id, key_hash=key_hash, tenant=Tenant(id=tenant_id))


@prepared
def _live_key():
    return (ApiKey.select(ApiKey.id, ApiKey.key_hash, ApiKey.tenant)
            .where((ApiKey.key_hash == Param("digest")) & ApiKey.revoked_at.is_null())
            .limit(1))
