"""The one database handle, bound at start-up from DATABASE_URL.

Models refer to ``db`` (a proxy) so the same code serves SQLite and Postgres. Connections
are opened per request and per dispatcher batch; ``autoconnect=False`` makes a forgotten
connection fail loudly instead of silently opening one.
"""
import functools
import os
from contextlib import contextmanager, suppress
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from peewee import DatabaseProxy, Node, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as connect_url
from playhouse.db_url import parse as parse_url
from playhouse.pool import PooledPostgresqlDatabase

db = DatabaseProxy()

SQLITE_PRAGMAS = {
    "foreign_keys": 1,
    "journal_mode": "wal",
    "busy_timeout": 10000,
    "synchronous": "normal",
    "cache_size": -16000,
}


def make_database(url, *, statement_timeout_ms=None):
    """A peewee Database for ``url``: SQLite with pragmas, or pooled Postgres.

    ``statement_timeout_ms`` (Postgres): the server cancels any statement running longer,
    so a runaway query costs a 503 instead of holding a worker and a connection.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path in ("", ":memory:"):
            # Per-request connections would each see an empty database.
            raise ValueError("DATABASE_URL must name a SQLite file, not :memory:")
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        # IMMEDIATE: a write transaction takes the write lock at BEGIN, so a
        # read-modify-write (settings merge, status change) never interleaves.
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, autoconnect=False,
                              lock_type="IMMEDIATE", timeout=10)
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in ("postgres", "postgresql"):
        # An unpooled connect costs more than the rest of a request: always pool.
        scheme = "postgresql+pool"
    if scheme == "postgresql+pool":
        query = dict(parse_qsl(parts.query))
        query.setdefault("max_connections", "8")
        query.setdefault("stale_timeout", "300")
        query.setdefault("timeout", "10")
        url = urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))
        settings = parse_url(url)
        if statement_timeout_ms:
            # Set for every connection of the pool at connect time (libpq's options).
            timeout = f"-c statement_timeout={int(statement_timeout_ms)}"
            settings["options"] = f"{settings.get('options', '')} {timeout}".strip()
        if settings.get("database"):
            return PooledPostgresqlDatabase(**settings, prefer_psycopg3=True,
                                            autoconnect=False)
    return connect_url(url, autoconnect=False)


def bind(url, **options):
    database = make_database(url, **options)
    db.initialize(database)
    return database


def is_postgres():
    return isinstance(db.obj, PostgresqlDatabase)


def locked(query):
    """Row locks where the database has them; SQLite serialises writers instead."""
    return query.for_update() if is_postgres() else query


def lock_rows(query):
    """Lock ``query``'s rows now (Postgres), ahead of the rows a caller takes next, to
    keep the lock order every path keeps. Nothing on SQLite, whose writers are
    serialised: no query is run."""
    if is_postgres():
        query.for_update().execute()


def skip_locked(query):
    return query.for_update(skip_locked=True) if is_postgres() else query


def transaction():
    return db.atomic()


@contextmanager
def connection():
    """Open a connection for a unit of work outside a request (CLI, dispatcher)."""
    opened = db.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if opened and not db.is_closed():
            db.close()


def discard_connection():
    """Drop the current connection for good (it may be broken), never back to the pool."""
    if db.obj is None or db.is_closed():
        return
    # peewee forgets the connection even when closing the driver's side fails (close()
    # resets its state in a ``finally``; the pool's manual_close logs and drops a
    # connection that will not close), so a broken one needs nothing more.
    with suppress(Exception):
        if isinstance(db.obj, PooledPostgresqlDatabase):
            db.obj.manual_close()
        else:
            db.close()


def init_app(app, *, skip=lambda: False):
    """Connections per request: opened before the view (unless ``skip()``).

    Postgres connections go back to the pool after each request. A SQLite connection
    stays open for the worker's next request: opening one costs a file open and five
    pragmas, a third of a short request, and a sync worker serves one request at a time.
    """
    persistent = isinstance(db.obj, SqliteDatabase)

    def _open():
        if not skip():
            db.connect(reuse_if_open=True)

    def _close(exc):
        if db.is_closed():
            return
        if persistent and exc is None and not db.in_transaction():
            return
        db.close()

    app.before_request(_open)
    app.teardown_request(_close)


class Param(Node):
    """A named placeholder in a ``prepared`` query: it compiles to the database's
    parameter mark, and takes its value from each run's ``values``. ``field``, when
    given, converts the value as that field does (``db_value``); without one the value
    goes to the driver as it is."""

    def __init__(self, name, field=None):
        super().__init__()
        self.name = name
        self.field = field

    def __sql__(self, ctx):
        # converter=False: the value is a slot, converted when it is filled.
        return ctx.value(_Slot(self.name, self.field), converter=False)


class _Slot:
    __slots__ = ("name", "field")

    def __init__(self, name, field):
        self.name = name
        self.field = field

    def fill(self, values):
        value = values[self.name]
        return value if self.field is None else self.field.db_value(value)


def prepared(build):
    """A query written once with peewee and compiled once per database kind and shape.

    ``build(**shape)`` returns a peewee query whose varying values are ``Param``s; the
    keyword arguments are what changes the statement's text (an optional filter, a
    LIMIT written into the text), so a shape is one statement. ``run(values, **shape)``
    fills the parameters and executes it, and returns the cursor (rows as tuples, the
    columns as the database hands them back).

    peewee builds and compiles a query anew at every run, which was two thirds of a
    list request; here a statement is compiled at its first run and its text and
    parameter slots kept (at most 128 shapes a query, least recently used dropped).
    There is no key to write: it is the query's own function, the database's class and
    the shape's arguments. tests/test_database.py runs the same contract on both
    databases.
    """
    @functools.lru_cache(maxsize=128)
    def compiled(kind, shape):
        sql, params = build(**dict(shape)).sql()
        return sql, tuple(params)

    def run(values, **shape):
        sql, params = compiled(type(db.obj), tuple(sorted(shape.items())))
        return db.execute_sql(sql, [p.fill(values) if isinstance(p, _Slot) else p
                                    for p in params])

    run.compiled = compiled
    return run
