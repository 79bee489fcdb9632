"""Test fixtures: a migrated database per test, on SQLite (default) or Postgres.

Set ``TEST_DATABASE_URL=postgresql://user@host:port/db`` to run the suite on Postgres:
a throw-away database is created next to the one named, migrated once, and emptied
between tests.
"""
import json
import logging
import os
import shutil
import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

from app import clock, create_app, database
from app.api.requestlog import JsonFormatter
from app.config import ROOT
from app.services import tenants
from tests.config import TestConfig

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgres")


def _release(db):
    """Close every connection a Database holds (a pool keeps them open otherwise)."""
    if not db.is_closed():
        db.close()
    if hasattr(db, "close_all"):
        db.close_all()


def _runner(db):
    from playhouse.migrations import Runner
    return Runner(db, directory=str(ROOT / "migrations"))


def _migrate(url):
    db = database.bind(url)
    with database.connection():
        _runner(db).up()
    _release(db)


def _pg_admin(url):
    import psycopg
    parts = urlsplit(url.replace("+pool", ""))
    conn = psycopg.connect(urlunsplit(("postgresql", parts.netloc, parts.path, "", "")),
                           autocommit=True)
    return conn, parts


@contextmanager
def empty_database(prefix, directory, query=""):
    """The URL of a database with no tables: a new Postgres database next to the one
    TEST_DATABASE_URL names (dropped afterwards), or a SQLite file in ``directory``."""
    if not ON_POSTGRES:
        yield f"sqlite:///{directory / f'{prefix}.db'}"
        return
    conn, parts = _pg_admin(PG_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(("postgresql+pool", parts.netloc, f"/{name}", query, ""))
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with empty_database("campaigns_test", tmp_path_factory.mktemp("template"),
                        query="max_connections=20") as url:
        _migrate(url)
        # SQLite: the migrated file is a template each test copies.
        yield url if ON_POSTGRES else url[len("sqlite:///"):]


@pytest.fixture
def db_url(database_url, tmp_path):
    """A migrated, empty database for one test."""
    if ON_POSTGRES:
        yield database_url
        db = database.bind(database_url)
        with database.connection():
            # Every table but the migration history, which says the schema is built.
            history = _runner(db).table_name
            tables = ", ".join(f'"{t}"' for t in db.get_tables() if t != history)
            db.execute_sql(f"TRUNCATE {tables} CASCADE")
        _release(db)
    else:
        path = tmp_path / "test.db"
        shutil.copy(database_url, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def make_app(db_url):
    def factory(**overrides):
        return create_app(TestConfig(DATABASE_URL=db_url, **overrides))
    return factory


@pytest.fixture
def app(make_app):
    app = make_app()
    with database.connection():
        yield app
    _release(database.db.obj)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(autouse=True)
def _real_clock():
    yield
    clock.freeze(None)


class Tenant:
    """A tenant as a test sees it: ids, its workspace slug and ready-made auth headers."""

    def __init__(self, name, slug):
        self.model, self.workspace, self.key, self.secret = tenants.create_tenant(
            name, workspace_slug=slug)
        self.slug = slug
        self.headers = {"Authorization": f"Bearer {self.secret}"}


@pytest.fixture
def tenant(app):
    return Tenant("Acme", "acme-corp")


@pytest.fixture
def other_tenant(app):
    return Tenant("Globex", "globex")


@pytest.fixture
def api(client, tenant):
    """The client with the tenant's key on every call: api.get(url), api.post(url, json=...)."""
    class Api:
        def __getattr__(self, method):
            def call(url, **kwargs):
                headers = {**tenant.headers, **kwargs.pop("headers", {})}
                return getattr(client, method)(url, headers=headers, **kwargs)
            return call
    return Api()


BASE = "/api/v1/tenant/campaigns"


@pytest.fixture
def create_campaign(api, tenant):
    def create(name="Q4 Outreach", **fields):
        response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": name, **fields})
        assert response.status_code == 201, response.json
        return response.json["data"]
    return create


STEP = {"subject": "Hello {{firstName}}", "body": "Hi {{ firstName | default('there') }}"}


SENDER = {"from_name": "Ada from Acme", "from_email": "ada@acme.test"}


@pytest.fixture
def ready_campaign(api, create_campaign):
    """A draft with one valid step, a sender and one lead: start would be allowed."""
    def make(leads=({"email": "grace@example.com", "first_name": "Grace"},), **fields):
        campaign = create_campaign(**fields)
        url = f"{BASE}/{campaign['id']}"
        response = api.patch(url, json={"sequence": [STEP], "settings": SENDER})
        assert response.status_code == 200, response.json
        if leads:
            response = api.post(f"{url}/leads", json={"leads": list(leads)})
            assert response.status_code == 200, response.json
        return api.get(url).json["data"]
    return make


class QueryCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.queries = []

    def emit(self, record):
        if record.name == "peewee":  # SQL only, not the pool's own chatter
            self.queries.append(record.getMessage())


@contextmanager
def count_queries():
    logger = logging.getLogger("peewee")
    counter = QueryCounter()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter.queries
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous)


class AccessLines(logging.Handler):
    """The access log as the formatter writes it: one parsed JSON object per line."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines = []

    def emit(self, record):
        text = self.format(record)
        assert "\n" not in text
        self.lines.append(json.loads(text))


@pytest.fixture
def access_log():
    """Every access line logged during the test, parsed."""
    logger = logging.getLogger("app.access")
    handler = AccessLines()
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)
