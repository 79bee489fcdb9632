"""Rate limits per API key: 429 in the envelope with Retry-After and X-RateLimit-* headers."""
import hashlib
import time

import pytest

from app import database
from app.models import Campaign
from app.services import tenants
from tests.conftest import BASE, Tenant

REDIS_URL = "redis://127.0.0.1:6379/15"


def release(db):
    if hasattr(db, "close_all"):  # a Postgres pool keeps its connections otherwise
        db.close_all()


@pytest.fixture
def limited(make_app):
    """An app allowing 3 requests a minute per key, and two tenants on it."""
    built = []

    def build(**config):
        app = make_app(**{"RATE_LIMIT": "3/minute", **config})
        built.append(database.db.obj)
        return app
    app = build()
    with database.connection():
        first = Tenant("Acme", "acme-corp")
        second = Tenant("Globex", "globex")
    build.app, build.first, build.second = app, first, second
    yield build
    for db in built:
        release(db)


def listing(client, tenant):
    return client.get(f"{BASE}?workspace={tenant.slug}", headers=tenant.headers)


def assert_429(response):
    assert response.status_code == 429
    assert response.mimetype == "application/json"
    assert set(response.json) == {"success", "error"}
    assert response.json["success"] is False
    assert set(response.json["error"]) == {"code", "message", "details"}
    assert response.json["error"]["code"] == "rate_limited"
    assert response.json["error"]["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > 0


def test_fourth_request_in_a_minute_is_429_in_the_envelope(limited):
    client = limited.app.test_client()
    answers = [listing(client, limited.first) for _ in range(4)]

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert_429(answers[3])


def test_allowed_requests_count_down_the_remaining_header(limited):
    client = limited.app.test_client()
    answers = [listing(client, limited.first) for _ in range(3)]

    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in answers} == {"3"}


def test_a_refused_request_does_no_work(limited):
    client = limited.app.test_client()
    for _ in range(3):
        listing(client, limited.first)

    response = client.post(BASE, json={"workspace_slug": limited.first.slug, "name": "Late"},
                           headers=limited.first.headers)

    assert_429(response)
    with database.connection():
        assert Campaign.select().count() == 0


def test_writes_share_the_keys_budget(limited):
    client = limited.app.test_client()
    tenant = limited.first
    for name in ("One", "Two", "Three"):
        created = client.post(BASE, json={"workspace_slug": tenant.slug, "name": name},
                              headers=tenant.headers)
        assert created.status_code == 201

    assert_429(listing(client, tenant))


def test_a_second_key_has_its_own_budget(limited):
    client = limited.app.test_client()
    for _ in range(4):
        listing(client, limited.first)

    answers = [listing(client, limited.second) for _ in range(3)]

    assert [r.status_code for r in answers] == [200, 200, 200]
    assert answers[-1].headers["X-RateLimit-Remaining"] == "0"
    assert_429(listing(client, limited.first))


def test_a_second_key_of_the_same_tenant_has_its_own_budget(limited):
    client = limited.app.test_client()
    with database.connection():
        _key, secret = tenants.create_key(limited.first.model.id, name="second")
    for _ in range(4):
        listing(client, limited.first)

    response = client.get(f"{BASE}?workspace={limited.first.slug}",
                          headers={"Authorization": f"Bearer {secret}"})

    assert response.status_code == 200


def test_healthz_is_not_limited(limited):
    client = limited.app.test_client()

    answers = [client.get("/healthz", headers=limited.first.headers) for _ in range(10)]

    assert {r.status_code for r in answers} == {200}
    assert "X-RateLimit-Limit" not in answers[-1].headers


def test_readyz_is_not_limited(limited):
    client = limited.app.test_client()

    answers = [client.get("/readyz") for _ in range(10)]

    assert {r.status_code for r in answers} == {200}


def test_an_exhausted_key_does_not_block_healthz(limited):
    client = limited.app.test_client()
    for _ in range(4):
        listing(client, limited.first)

    assert client.get("/healthz", headers=limited.first.headers).status_code == 200


def test_budgets_are_per_app_instance_with_memory_storage(limited):
    first = limited.app.test_client()
    for _ in range(4):
        listing(first, limited.first)

    other_node = limited().test_client()

    assert listing(other_node, limited.first).status_code == 200


# ---- several nodes, one budget (Redis) ------------------------------------------------

def limiter_key(tenant):
    """The part of the limiter's storage keys that names this tenant's API key."""
    return hashlib.sha256(tenant.secret.encode()).hexdigest()[:32]


@pytest.fixture
def redis_budget(limited):
    """Database 15 of the local Redis; the keys this test's API keys made are deleted."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    yield client
    for tenant in (limited.first, limited.second):
        for key in client.scan_iter(match=f"*{limiter_key(tenant)}*"):
            client.delete(key)
    client.close()


def test_two_app_instances_share_one_budget_through_redis(limited, redis_budget):
    node_a = limited(RATE_LIMIT_STORAGE_URI=REDIS_URL).test_client()
    node_b = limited(RATE_LIMIT_STORAGE_URI=REDIS_URL).test_client()

    answers = [listing(node_a, limited.first), listing(node_b, limited.first),
               listing(node_a, limited.first), listing(node_b, limited.first)]

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers[:3]] == ["2", "1", "0"]
    assert_429(answers[3])


def test_redis_budget_is_still_per_key(limited, redis_budget):
    node_a = limited(RATE_LIMIT_STORAGE_URI=REDIS_URL).test_client()
    node_b = limited(RATE_LIMIT_STORAGE_URI=REDIS_URL).test_client()
    for _ in range(4):
        listing(node_a, limited.first)

    assert listing(node_b, limited.second).status_code == 200


def test_redis_keys_hold_a_digest_never_the_api_key(limited, redis_budget):
    node = limited(RATE_LIMIT_STORAGE_URI=REDIS_URL).test_client()
    listing(node, limited.first)

    keys = [k.decode() for k in redis_budget.scan_iter(match="*campaigns-api*")]

    assert any(limiter_key(limited.first) in k for k in keys)
    assert not any(limited.first.secret in k for k in keys)


# ---- several rules, and a storage that is down ----------------------------------------

def test_the_tightest_of_several_rules_is_reported_and_enforced(limited):
    app = limited(RATE_LIMIT="100/hour;2/minute")
    client = app.test_client()

    answers = [listing(client, limited.first) for _ in range(3)]

    assert [r.status_code for r in answers] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Limit"] for r in answers] == ["2", "2", "2"]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["1", "0", "0"]
    assert 0 < int(answers[2].headers["Retry-After"]) <= 60


def test_the_reset_header_is_when_the_window_frees_a_request(limited):
    client = limited.app.test_client()
    before = int(time.time())

    response = listing(client, limited.first)

    assert before <= int(response.headers["X-RateLimit-Reset"]) <= before + 61


def test_an_unreachable_limit_storage_serves_unlimited_and_logs_it(limited, caplog):
    app = limited(RATE_LIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    client = app.test_client()

    answers = [listing(client, limited.first) for _ in range(5)]

    assert {r.status_code for r in answers} == {200}
    assert "X-RateLimit-Limit" not in answers[-1].headers
    assert "rate limit storage unavailable" in caplog.text
    assert limited.first.secret not in caplog.text


# ---- the in-process storage ------------------------------------------------------------

def test_memory_storage_starts_no_thread_per_request(limited, monkeypatch):
    from limits.storage import memory
    client = limited(RATE_LIMIT="1000/minute").test_client()
    started = []
    monkeypatch.setattr(memory.threading, "Timer", lambda *a, **kw: started.append(a))

    for _ in range(5):
        assert listing(client, limited.first).status_code == 200
        time.sleep(0.015)  # past the 10 ms after which limits would start a new timer

    assert started == []


def test_memory_storage_sweeps_counters_of_keys_no_longer_used(limited):
    from app.api.limits import SweptMemoryStorage
    storage = SweptMemoryStorage("memory://")
    storage.incr("gone", expiry=0.01)
    time.sleep(0.02)
    assert "gone" in storage.storage  # expired, but nobody read it again

    storage.next_sweep = 0  # the sweep falls due
    storage.incr("other", expiry=60)

    assert "gone" not in storage.storage
    assert storage.get("other") == 1


def test_a_refused_request_is_refused_before_the_database_is_touched(limited):
    from app import create_app
    from tests.api.test_health_and_logging import UNREACHABLE
    from tests.config import TestConfig
    bound = database.db.obj
    app = create_app(TestConfig(DATABASE_URL=UNREACHABLE, RATE_LIMIT="1/minute"))
    try:
        client = app.test_client()
        first = listing(client, limited.first)
        second = listing(client, limited.first)
    finally:
        release(database.db.obj)
        database.db.initialize(bound)

    assert first.status_code == 503  # allowed, then the database was not there
    # Over the limit: refused (429, not 503) without reaching for a connection.
    assert second.status_code == 429
    assert second.json["error"]["code"] == "rate_limited"
    assert int(second.headers["Retry-After"]) > 0
