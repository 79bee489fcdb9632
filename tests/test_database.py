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


# ---- the Postgres pool ----------------------------------------------------------------

postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="Postgres only "
                                   "(set TEST_DATABASE_URL)")


def backend_pid():
    with database.connection():
        return database.db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def terminate(db_url, pid):
    admin = database.make_database(db_url)
    with admin.connection_context():
        admin.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close_all()


@postgres_only
def test_a_closed_connection_goes_back_to_the_pool(app):
    pid = backend_pid()
    database.db.close()
    database.db.connect()

    assert backend_pid() == pid


@postgres_only
def test_a_connection_that_died_in_the_pool_costs_one_retryable_503(app, tenant, db_url):
    """peewee's pool does not ping a connection it hands out (psycopg 3 cannot tell a
    terminated backend before it is used): the request that meets it is a 503 with
    Retry-After, the connection is discarded, and the next request gets a live one."""
    client = app.test_client()
    url = f"/api/v1/tenant/campaigns?workspace={tenant.slug}"
    pid = backend_pid()
    terminate(db_url, pid)

    failed = client.get(url, headers=tenant.headers)
    recovered = client.get(url, headers=tenant.headers)

    assert failed.status_code == 503
    assert failed.json["error"]["code"] == "database_unavailable"
    assert int(failed.headers["Retry-After"]) > 0
    assert recovered.status_code == 200
    assert backend_pid() != pid


@postgres_only
def test_a_discarded_connection_never_goes_back_to_the_pool(app):
    pid = backend_pid()
    database.discard_connection()
    assert database.db.is_closed()
    database.db.connect()

    assert backend_pid() != pid


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
