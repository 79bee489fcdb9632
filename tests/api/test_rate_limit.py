"""Rate limits per tenant (all its keys share one budget) and per client address for
failed authentications: 429 in the envelope with Retry-After and X-RateLimit-* headers."""
import threading
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


def test_another_tenant_has_its_own_budget(limited):
    client = limited.app.test_client()
    for _ in range(4):
        listing(client, limited.first)

    answers = [listing(client, limited.second) for _ in range(3)]

    assert [r.status_code for r in answers] == [200, 200, 200]
    assert answers[-1].headers["X-RateLimit-Remaining"] == "0"
    assert_429(listing(client, limited.first))


def second_key(tenant):
    with database.connection():
        _key, secret = tenants.create_key(tenant.model.id, name="second")
    return {"Authorization": f"Bearer {secret}"}


def test_all_keys_of_a_tenant_share_one_budget(limited):
    client = limited.app.test_client()
    other = second_key(limited.first)
    for _ in range(3):
        assert listing(client, limited.first).status_code == 200

    response = client.get(f"{BASE}?workspace={limited.first.slug}", headers=other)

    assert_429(response)


def test_a_second_key_counts_down_the_same_remaining(limited):
    client = limited.app.test_client()
    other = second_key(limited.first)

    first = listing(client, limited.first)
    second = client.get(f"{BASE}?workspace={limited.first.slug}", headers=other)

    assert [first.status_code, second.status_code] == [200, 200]
    assert [first.headers["X-RateLimit-Remaining"],
            second.headers["X-RateLimit-Remaining"]] == ["2", "1"]


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
    """The part of the limiter's storage keys that names this tenant."""
    return f"tenant:{tenant.model.id}"


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


def test_redis_budget_is_per_tenant(limited, redis_budget):
    node_a = limited(RATE_LIMIT_STORAGE_URI=REDIS_URL).test_client()
    node_b = limited(RATE_LIMIT_STORAGE_URI=REDIS_URL).test_client()
    for _ in range(4):
        listing(node_a, limited.first)

    assert listing(node_b, limited.second).status_code == 200


def test_two_keys_of_a_tenant_share_one_budget_through_redis(limited, redis_budget):
    node_a = limited(RATE_LIMIT_STORAGE_URI=REDIS_URL).test_client()
    node_b = limited(RATE_LIMIT_STORAGE_URI=REDIS_URL).test_client()
    other = second_key(limited.first)
    for _ in range(3):
        assert listing(node_a, limited.first).status_code == 200

    response = node_b.get(f"{BASE}?workspace={limited.first.slug}", headers=other)

    assert_429(response)


def test_redis_keys_name_the_tenant_never_the_api_key(limited, redis_budget):
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

class Clock:
    """A time source the test moves by hand (seconds since the epoch)."""

    def __init__(self, at=1_800_000_000.0):  # a multiple of 60: a minute's first second
        self.at = at

    def __call__(self):
        return self.at


def local_limiter(rule="3/minute", **options):
    from limits import parse
    from limits.strategies import SlidingWindowCounterRateLimiter

    from app.api.limits import LocalStorage
    clock = Clock()
    storage = LocalStorage(clock=clock, **options)
    return SlidingWindowCounterRateLimiter(storage), parse(rule), storage, clock


def test_memory_storage_counts_in_process_without_a_thread():
    from app.api.limits import LocalStorage, RateLimits
    limits = RateLimits("3/minute", "30/minute", "memory://")
    before = threading.active_count()

    for i in range(200):
        limits.limiter.hit(limits.rules[0], "ns", f"tenant:{i}")

    assert type(limits.limiter.storage) is LocalStorage
    assert threading.active_count() == before


def test_local_storage_is_reachable_by_its_scheme():
    from limits.storage import storage_from_string

    from app.api.limits import LocalStorage

    assert type(storage_from_string("local://")) is LocalStorage


def test_local_storage_refuses_past_the_limit_and_allows_again_two_windows_on():
    limiter, rule, _storage, clock = local_limiter()

    assert [limiter.hit(rule, "ns", "a") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(rule, "ns", "b")  # another key has its own budget
    clock.at += 120
    assert limiter.test(rule, "ns", "a")
    assert limiter.hit(rule, "ns", "a")


def test_local_storage_weighs_the_previous_window_by_what_is_left_of_it():
    limiter, rule, _storage, clock = local_limiter("10/minute")
    assert all(limiter.hit(rule, "ns", "a") for _ in range(10))

    clock.at += 90  # half-way through the next minute: the last one counts for 5
    taken = [limiter.hit(rule, "ns", "a") for _ in range(6)]

    assert taken == [True] * 5 + [False]
    assert limiter.get_window_stats(rule, "ns", "a").remaining == 0


def test_local_storage_stays_within_its_bound():
    limiter, rule, storage, clock = local_limiter(max_keys=100)

    for i in range(1000):
        limiter.hit(rule, "ns", f"client:{i}")
        clock.at += 0.01

    assert len(storage) <= 100
    # The oldest counters are the ones dropped.
    assert storage.get_sliding_window(rule.key_for("ns", "client:999"), 60)[2] == 1
    assert storage.get_sliding_window(rule.key_for("ns", "client:0"), 60)[2] == 0


def test_local_storage_sweeps_expired_counters_before_dropping_live_ones():
    limiter, rule, storage, clock = local_limiter(max_keys=10)
    for i in range(9):
        limiter.hit(rule, "ns", f"old:{i}")
    clock.at += 120
    limiter.hit(rule, "ns", "live")
    limiter.hit(rule, "ns", "new")  # the storage is full: the nine expired ones go

    assert len(storage) == 2
    assert storage.get_sliding_window(rule.key_for("ns", "live"), 60)[2] == 1


def test_local_storage_gives_the_last_request_of_a_window_to_one_thread_only():
    limiter, rule, _storage, _clock = local_limiter("500/minute")
    allowed = []

    def hammer():
        allowed.append(sum(limiter.hit(rule, "ns", "a") for _ in range(200)))
    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(allowed) == 500


# ---- failed authentications, per client address ----------------------------------------

MADE_UP = {"Authorization": "Bearer sk_live_made_up_key"}


def made_up(client, tenant, headers=MADE_UP, address="127.0.0.1"):
    return client.get(f"{BASE}?workspace={tenant.slug}", headers=headers,
                      environ_base={"REMOTE_ADDR": address})


def assert_auth_429(response, limit="2"):
    assert response.status_code == 429
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["X-RateLimit-Limit"] == limit
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_made_up_keys_end_in_429(limited):
    client = limited(AUTH_FAILURE_RATE_LIMIT="2/minute").test_client()

    answers = [made_up(client, limited.first) for _ in range(3)]

    assert [r.status_code for r in answers] == [401, 401, 429]
    assert answers[0].json["error"]["code"] == "unauthorized"
    assert_auth_429(answers[2])


def test_requests_without_a_key_count_as_failures(limited):
    client = limited(AUTH_FAILURE_RATE_LIMIT="2/minute").test_client()

    answers = [made_up(client, limited.first, headers={}) for _ in range(3)]

    assert [r.status_code for r in answers] == [401, 401, 429]


def test_an_address_over_its_failures_is_refused_before_the_key_is_looked_up(limited):
    client = limited(AUTH_FAILURE_RATE_LIMIT="2/minute").test_client()
    for _ in range(2):
        made_up(client, limited.first)

    # A valid key from that address: refused without the lookup that would have passed.
    response = made_up(client, limited.first, headers=limited.first.headers)

    assert_auth_429(response)


def test_authenticated_requests_do_not_spend_the_failure_budget(limited):
    client = limited(AUTH_FAILURE_RATE_LIMIT="2/minute", RATE_LIMIT="100/minute").test_client()

    answers = [listing(client, limited.first) for _ in range(5)]

    assert {r.status_code for r in answers} == {200}
    assert made_up(client, limited.first).status_code == 401


def test_failures_are_counted_per_client_address(limited):
    client = limited(AUTH_FAILURE_RATE_LIMIT="2/minute").test_client()
    for _ in range(3):
        made_up(client, limited.first, address="10.0.0.1")

    assert made_up(client, limited.first, address="10.0.0.2").status_code == 401


def forwarded(ip):
    return {**MADE_UP, "X-Forwarded-For": ip}


def test_a_forged_forwarded_for_does_not_change_the_bucket_without_trusted_proxies(limited):
    client = limited(AUTH_FAILURE_RATE_LIMIT="2/minute").test_client()

    answers = [made_up(client, limited.first, headers=forwarded(f"198.51.100.{n}"))
               for n in range(3)]

    assert [r.status_code for r in answers] == [401, 401, 429]


def test_one_trusted_proxy_takes_the_client_address_from_forwarded_for(limited):
    client = limited(AUTH_FAILURE_RATE_LIMIT="2/minute", TRUSTED_PROXIES=1).test_client()
    for _ in range(2):
        made_up(client, limited.first, headers=forwarded("198.51.100.1"))

    same = made_up(client, limited.first, headers=forwarded("198.51.100.1"))
    other = made_up(client, limited.first, headers=forwarded("198.51.100.2"))

    assert_auth_429(same)
    assert other.status_code == 401


def test_only_the_last_hop_is_trusted_with_one_proxy(limited):
    client = limited(AUTH_FAILURE_RATE_LIMIT="2/minute", TRUSTED_PROXIES=1).test_client()

    # The client prepends forged hops; the proxy appends the address it saw.
    answers = [made_up(client, limited.first, headers=forwarded(f"203.0.113.{n}, 198.51.100.1"))
               for n in range(3)]

    assert [r.status_code for r in answers] == [401, 401, 429]


def test_an_over_limit_address_is_refused_before_the_database_is_touched(limited):
    redis = pytest.importorskip("redis")
    probe = redis.Redis.from_url(REDIS_URL)
    try:
        probe.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    address = f"192.0.2.{int(time.time() * 1000) % 250 + 1}"
    shared = {"RATE_LIMIT_STORAGE_URI": REDIS_URL, "AUTH_FAILURE_RATE_LIMIT": "1/minute"}
    made_up(limited(**shared).test_client(), limited.first, address=address)

    from app import create_app
    from tests.api.test_health_and_logging import UNREACHABLE
    from tests.config import TestConfig
    bound = database.db.obj
    app = create_app(TestConfig(DATABASE_URL=UNREACHABLE, **shared))
    try:
        response = made_up(app.test_client(), limited.first, address=address)
    finally:
        release(database.db.obj)
        database.db.initialize(bound)
        for key in probe.scan_iter(match=f"*{address}*"):
            probe.delete(key)
        probe.close()

    # 429, not the 503 of a database that is not there: no connection was asked for.
    assert_auth_429(response, limit="1")
