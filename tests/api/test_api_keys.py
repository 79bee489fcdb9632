"""API keys: hashed at rest, compared in constant time, revoked keys fail at once."""
import hashlib
import hmac

import pytest

from app import database
from app.models import ApiKey
from app.services import tenants as tenant_service
from tests.conftest import BASE


def table_dump(table):
    with database.connection():
        cursor = database.db.execute_sql(f'SELECT * FROM "{table}"')
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def listing(client, secret, slug):
    return client.get(f"{BASE}?workspace={slug}", headers={"Authorization": f"Bearer {secret}"})


def assert_401(response):
    assert response.status_code == 401
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "unauthorized"


# ---- hashed at rest -------------------------------------------------------------------

def test_api_key_table_holds_the_sha256_never_the_secret(tenant):
    rows = table_dump("api_key")

    assert len(rows) == 1
    assert rows[0]["key_hash"] == hashlib.sha256(tenant.secret.encode()).hexdigest()
    text = repr(rows)
    assert tenant.secret not in text
    assert tenant.secret[len("sk_live_"):] not in text


def test_stored_prefix_is_only_the_first_characters(tenant):
    row = table_dump("api_key")[0]

    assert row["prefix"] == tenant.secret[:12]
    assert len(tenant.secret) - len(row["prefix"]) >= 32


def test_no_table_holds_the_secret_after_it_is_used(client, tenant):
    created = client.post(BASE, json={"workspace_slug": tenant.slug, "name": "X"},
                          headers={**tenant.headers, "Idempotency-Key": "used-1"})
    assert created.status_code == 201

    with database.connection():
        tables = database.db.get_tables()
    assert "api_key" in tables
    for table in tables:
        assert tenant.secret not in repr(table_dump(table)), table


def test_a_new_key_is_returned_once_and_stored_hashed(tenant):
    with database.connection():
        key, secret = tenant_service.create_key(tenant.model.id, name="ci")
        stored = ApiKey.get_by_id(key.id)

    assert secret.startswith("sk_live_")
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(table_dump("api_key"))


def test_the_stored_hash_itself_is_not_a_key(client, tenant):
    stored = table_dump("api_key")[0]["key_hash"]

    assert_401(listing(client, stored, tenant.slug))


# ---- constant-time comparison ---------------------------------------------------------

@pytest.fixture
def compare_calls(monkeypatch):
    """Every hmac.compare_digest call, recorded; the real comparison still decides."""
    calls = []
    real = hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)
    monkeypatch.setattr(hmac, "compare_digest", recording)
    return calls


def test_a_valid_key_is_checked_with_compare_digest(client, tenant, compare_calls):
    stored = hashlib.sha256(tenant.secret.encode()).hexdigest()

    response = listing(client, tenant.secret, tenant.slug)

    assert response.status_code == 200
    assert (stored, stored) in compare_calls


def test_the_key_check_is_decided_by_compare_digest(monkeypatch, client, tenant):
    stored = hashlib.sha256(tenant.secret.encode()).hexdigest()
    real = hmac.compare_digest

    def refuse_key_hashes(a, b):
        return False if stored in (a, b) else real(a, b)
    monkeypatch.setattr(hmac, "compare_digest", refuse_key_hashes)

    assert_401(listing(client, tenant.secret, tenant.slug))


def test_no_plain_equality_between_the_secret_and_stored_values(client, tenant, compare_calls):
    listing(client, tenant.secret, tenant.slug)

    # The secret itself is never handed to a comparison: only its digest is.
    assert all(tenant.secret not in (a, b) for a, b in compare_calls)


# ---- revocation -----------------------------------------------------------------------

def test_revoked_key_fails_on_the_very_next_request(client, tenant):
    assert listing(client, tenant.secret, tenant.slug).status_code == 200

    with database.connection():
        tenant_service.revoke_key(tenant.key.id)

    assert_401(listing(client, tenant.secret, tenant.slug))


def test_revoked_key_cannot_write(client, tenant):
    with database.connection():
        tenant_service.revoke_key(tenant.key.id)

    response = client.post(BASE, json={"workspace_slug": tenant.slug, "name": "After"},
                           headers=tenant.headers)

    assert_401(response)
    assert table_dump("campaign") == []


def test_revocation_is_stored_with_a_time(tenant):
    with database.connection():
        tenant_service.revoke_key(tenant.key.id)

    assert table_dump("api_key")[0]["revoked_at"] is not None


def test_revoking_one_key_leaves_another_key_of_the_tenant_working(client, tenant):
    with database.connection():
        _key, second = tenant_service.create_key(tenant.model.id, name="second")
        tenant_service.revoke_key(tenant.key.id)

    assert listing(client, second, tenant.slug).status_code == 200
    assert_401(listing(client, tenant.secret, tenant.slug))



def test_the_key_is_hashed_once_a_request(monkeypatch, client, tenant):
    """The rate limit names its counter by the key's digest and authentication looks the
    key up by it: one SHA-256 serves both."""
    from app.services import auth
    hashed = []
    real = auth.hash_key
    monkeypatch.setattr(auth, "hash_key", lambda secret: hashed.append(secret) or real(secret))

    assert listing(client, tenant.secret, tenant.slug).status_code == 200
    assert hashed == [tenant.secret]


def test_a_key_longer_than_any_of_ours_is_not_even_hashed(monkeypatch):
    from app.services import auth
    monkeypatch.setattr(auth, "hash_key", lambda secret: pytest.fail("hashed"))
    assert auth.digest("k" * (auth.MAX_KEY_LENGTH + 1)) is None
    assert auth.digest("") is None and auth.digest(None) is None
