"""Postgres cancels a runaway statement (DATABASE_STATEMENT_TIMEOUT_MS): the request is a
503 with Retry-After in the error envelope, and the worker is free again."""
import os

import pytest

from app import database

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="Postgres only "
                                   "(set TEST_DATABASE_URL=postgresql://...)")


def release(db):
    if hasattr(db, "close_all"):
        db.close_all()


@pytest.fixture
def timed_app(make_app):
    """An app with a 50 ms statement timeout and a route whose query sleeps 2 s."""
    app = make_app(DATABASE_STATEMENT_TIMEOUT_MS=50)

    def slow():
        database.db.execute_sql("SELECT pg_sleep(2)")
        return {"success": True}

    def setting():
        (value,) = database.db.execute_sql("SHOW statement_timeout").fetchone()
        return {"statement_timeout": value}

    app.add_url_rule("/slow", "slow", slow)
    app.add_url_rule("/statement-timeout", "statement_timeout", setting)
    yield app
    release(database.db.obj)


@postgres_only
def test_a_runaway_query_is_a_503_with_retry_after(timed_app):
    response = timed_app.test_client().get("/slow")

    assert response.status_code == 503
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "database_unavailable"
    assert response.json["error"]["message"]
    assert int(response.headers["Retry-After"]) > 0


@postgres_only
def test_the_next_request_after_a_cancelled_query_is_served(timed_app):
    client = timed_app.test_client()
    client.get("/slow")

    response = client.get("/statement-timeout")

    assert response.status_code == 200
    assert response.json == {"statement_timeout": "50ms"}


@postgres_only
def test_the_default_statement_timeout_is_5_seconds(make_app):
    make_app()
    try:
        with database.connection():
            (value,) = database.db.execute_sql("SHOW statement_timeout").fetchone()
    finally:
        release(database.db.obj)

    assert value == "5s"


@postgres_only
def test_a_timeout_of_0_sets_none(make_app):
    app = make_app(DATABASE_STATEMENT_TIMEOUT_MS=0)
    try:
        with database.connection():
            (value,) = database.db.execute_sql("SHOW statement_timeout").fetchone()
    finally:
        release(database.db.obj)

    assert app.config["DATABASE_STATEMENT_TIMEOUT_MS"] == 0
    assert value == "0"


@postgres_only
def test_the_timeout_joins_options_given_in_the_url():
    url = os.environ["TEST_DATABASE_URL"]
    db = database.make_database(f"{url}?options=-c%20work_mem%3D8MB", statement_timeout_ms=70)
    try:
        db.connect()
        timeout = db.execute_sql("SHOW statement_timeout").fetchone()[0]
        work_mem = db.execute_sql("SHOW work_mem").fetchone()[0]
    finally:
        db.close()
        release(db)

    assert (timeout, work_mem) == ("70ms", "8MB")
