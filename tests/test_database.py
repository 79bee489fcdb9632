"""The SQLite connection's settings: each one is there for a behaviour or a cost."""
import pytest

from app import database
from tests.conftest import ON_POSTGRES


@pytest.fixture
def sqlite(tmp_path):
    db = database.make_database(f"sqlite:///{tmp_path / 'settings.db'}")
    db.connect()
    yield db
    db.close()


@pytest.mark.parametrize(("pragma", "expected"), [
    ("foreign_keys", 1),
    ("journal_mode", "wal"),
    ("busy_timeout", 10000),
    ("synchronous", 1),  # NORMAL
    ("cache_size", -16000),
])
def test_every_connection_has_the_pragmas(sqlite, pragma, expected):
    assert sqlite.execute_sql(f"PRAGMA {pragma}").fetchone()[0] == expected


def test_memory_databases_are_refused():
    with pytest.raises(ValueError, match="SQLite file"):
        database.make_database("sqlite:///:memory:")


# ---- the Postgres pool: a ping only for connections that rested ------------------------

postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="Postgres only "
                                   "(set TEST_DATABASE_URL)")


@pytest.fixture
def pool(db_url):
    db = database.make_database(db_url)
    yield db
    if not db.is_closed():
        db.close()
    db.close_all()


def pinged(pool, monkeypatch):
    """The connections the pool checks with a round trip, in order."""
    calls = []
    real = pool._adapter.is_connection_closed
    monkeypatch.setattr(pool._adapter, "is_connection_closed",
                        lambda conn: calls.append(conn) or real(conn))
    return calls


def checkout(pool):
    pool.connect()
    conn = pool.connection()
    pid = pool.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    pool.close()
    return conn, pid


def rest(pool, conn, seconds):
    pool._returned[pool.conn_key(conn)] -= seconds


def terminate(db_url, pid):
    admin = database.make_database(db_url)
    with admin.connection_context():
        admin.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close_all()


@postgres_only
def test_a_connection_given_back_just_now_is_handed_out_without_a_ping(pool, monkeypatch):
    calls = pinged(pool, monkeypatch)
    first, _ = checkout(pool)

    again, _ = checkout(pool)

    assert again is first
    assert calls == []


@postgres_only
def test_a_connection_that_rested_is_pinged_first(pool, monkeypatch):
    calls = pinged(pool, monkeypatch)
    first, _ = checkout(pool)
    rest(pool, first, database.RestedPool.ALIVE_BYPASS_SECONDS)

    again, _ = checkout(pool)

    assert again is first
    assert calls == [first]


@postgres_only
def test_a_connection_that_died_while_resting_is_replaced_unseen(pool, db_url):
    first, pid = checkout(pool)
    terminate(db_url, pid)
    rest(pool, first, database.RestedPool.ALIVE_BYPASS_SECONDS)

    _conn, new_pid = checkout(pool)

    assert new_pid != pid


@postgres_only
def test_only_connections_back_in_the_pool_are_remembered(pool, monkeypatch):
    """A connection closed on its way back (stale, or closed by hand) leaves nothing
    behind in the pool's record of when connections were returned."""
    conn, _pid = checkout(pool)
    assert list(pool._returned) == [pool.conn_key(conn)]

    monkeypatch.setattr(pool, "_stale_timeout", 1e-9)  # every connection is stale
    stale, _pid = checkout(pool)
    assert stale.closed and pool._returned == {}

    monkeypatch.setattr(pool, "_stale_timeout", 300)
    pool.connect()
    closed_by_hand = pool.connection()
    pool.manual_close()
    assert closed_by_hand.closed and pool._returned == {}


@postgres_only
def test_a_connection_that_died_just_after_use_costs_one_retryable_503(app, tenant, db_url):
    client = app.test_client()
    url = f"/api/v1/tenant/campaigns?workspace={tenant.slug}"
    assert client.get(url, headers=tenant.headers).status_code == 200
    pool = database.db.obj
    for _ts, _n, conn in list(pool._connections):
        terminate(db_url, conn.info.backend_pid)

    failed = client.get(url, headers=tenant.headers)
    recovered = client.get(url, headers=tenant.headers)

    assert failed.status_code == 503
    assert failed.json["error"]["code"] == "database_unavailable"
    assert int(failed.headers["Retry-After"]) > 0
    assert recovered.status_code == 200


# ---- JSON columns ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    {"days": ["mon", "tue"], "name": "Café ☕", "n": 3, "ok": True, "none": None},
    [{"step": 1, "subject": "Hi"}],
    {"big": 123456789012345678901234567890},  # beyond 64 bits: json reads it
])
def test_json_columns_read_back_what_was_written(value):
    from app.models.base import JSONField
    field = JSONField()

    assert field.python_value(field.db_value(value)) == value


# ---- statements run together (Postgres) -------------------------------------------------

@pytest.fixture
def scratch(app):
    with database.connection():
        database.db.execute_sql("CREATE TEMP TABLE scratch (n integer PRIMARY KEY)")
        yield
        database.db.execute_sql("DROP TABLE scratch")


def scratch_rows():
    return [n for (n,) in database.db.execute_sql("SELECT n FROM scratch ORDER BY n")]


@postgres_only
def test_statements_run_together_give_each_result(scratch):
    results = database.run_together(
        ("INSERT INTO scratch VALUES (%s), (%s)", [1, 2]),
        ("UPDATE scratch SET n = n + 10 WHERE n > %s RETURNING n", [1]),
        ("SELECT count(*), %s FROM scratch", ["50% off"]))
    assert results == [(None, 2), ([(12,)], 1), ([(2, "50% off")], 1)]
    assert scratch_rows() == [1, 12]


@postgres_only
def test_statements_run_together_commit_together_or_not_at_all(scratch):
    from peewee import IntegrityError
    with pytest.raises(IntegrityError):
        database.run_together(("INSERT INTO scratch VALUES (%s)", [1]),
                              ("INSERT INTO scratch VALUES (%s)", [1]))
    assert scratch_rows() == []  # the first insert went with the second
    assert not database.db.in_transaction()
    database.run_together(("INSERT INTO scratch VALUES (%s)", [3]))
    assert scratch_rows() == [3]


@postgres_only
def test_statements_run_together_share_one_transaction(scratch):
    (first, _), (second, _) = database.run_together(("SELECT pg_current_xact_id()", []),
                                                    ("SELECT pg_current_xact_id()", []))
    assert first == second


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite serialises writers: it has no row locks")
def test_lock_rows_runs_no_query_on_sqlite(app, tenant):
    from app.models import Campaign
    from tests.conftest import count_queries
    with count_queries() as queries:
        database.lock_rows(Campaign.select(Campaign.id))
    assert queries == []
    with count_queries() as queries:  # the counter does see a query run
        list(Campaign.select(Campaign.id))
    assert len(queries) == 1
