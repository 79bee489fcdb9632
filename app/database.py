"""The one database handle, bound at start-up from DATABASE_URL.

Models refer to ``db`` (a proxy) so the same code serves SQLite and Postgres. Connections
are opened per request and per dispatcher batch; ``autoconnect=False`` makes a forgotten
connection fail loudly instead of silently opening one.
"""
import os
import time
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase, Value, __exception_wrapper__
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


class RestedPool(PooledPostgresqlDatabase):
    """peewee's Postgres pool, pinging a connection only when it has rested.

    peewee checks every connection it hands out with a ``SELECT 1`` round trip, a fifth
    of a list request. As HikariCP does (its alive-bypass window), a connection given
    back less than half a second ago is handed out on its local transaction status
    alone; one that rested longer is pinged first. A connection that died within that
    half second fails its first statement instead: the request is a 503 with
    Retry-After and the connection is dropped (app.api.core.Api.handle_database_down).
    """

    ALIVE_BYPASS_SECONDS = 0.5

    def __init__(self, *args, **kwargs):
        self._returned = {}
        super().__init__(*args, **kwargs)

    def _close(self, conn, close_conn=False):
        key = self.conn_key(conn)
        self._returned.pop(key, None)
        checked_in = not close_conn and key in self._in_use
        super()._close(conn, close_conn)
        # Only a connection that went back to the pool is remembered: one closed on the
        # way (stale, not reusable, closed by hand) would never be asked about again.
        if checked_in and not conn.closed:
            self._returned[key] = time.monotonic()

    def _is_closed(self, conn):
        returned = self._returned.pop(self.conn_key(conn), None)
        if (returned is not None and not conn.closed
                and time.monotonic() - returned < self.ALIVE_BYPASS_SECONDS
                and self._adapter.txn_status(conn) == self._adapter.txn_idle):
            return False
        return super()._is_closed(conn)


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
            return RestedPool(**settings, prefer_psycopg3=True, autoconnect=False)
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
    try:
        if hasattr(db.obj, "manual_close"):
            db.manual_close()
        else:
            db.close()
    except Exception:  # already broken: forgetting it is all that is left to do
        db.obj._state.reset()


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


_compiled = {}


def compiled(name, build):
    """(sql, params) of a hot-path query, built by peewee once per database and variant.

    Generating SQL costs peewee more than SQLite spends running a short indexed query,
    so the few queries every request makes keep their text; ``build()`` makes the
    query with sample values, and callers pass their own values in the same order.
    """
    return _built(name, build)[0]


def _built(name, build):
    key = (name, id(db.obj))
    hit = _compiled.get(key)
    if hit is None:
        hit = _compiled[key] = build().sql()
    return hit


def run(sql, params):
    return db.execute_sql(sql, params).fetchall()


_SLOT = "\x00slot:"
_orders = {}


def slot(name):
    """A named parameter of a ``statement`` (peewee applies no conversion to it)."""
    return Value(_SLOT + name, converter=False)


def bound(name, build, **values):
    """(sql, params) of a hot-path statement whose SQL peewee builds once per database.

    ``build()`` makes the query with ``slot(name)`` where each call's values go; every
    other parameter is a constant of the query.
    """
    sql, params = _built(name, build)
    key = (name, id(db.obj))
    order = _orders.get(key)
    if order is None:
        order = _orders[key] = [
            (True, p[len(_SLOT):]) if isinstance(p, str) and p.startswith(_SLOT) else (False, p)
            for p in params]
    return sql, [values[p] if named else p for named, p in order]


def statement(name, build, **values):
    """Run a hot-path statement (see ``bound``). Returns the cursor."""
    return db.execute_sql(*bound(name, build, **values))


def run_together(*statements):
    """Postgres: run (sql, params) statements in one round trip and one transaction;
    returns each one's (rows, rowcount), rows None for a statement that returns none.

    They go in a pipeline (psycopg's pipeline mode) with a single Sync, so outside a
    transaction they commit or fail together, each still a prepared statement. Under
    READ COMMITTED each statement takes a new snapshot: it sees what committed while
    an earlier one waited for a lock.
    """
    with __exception_wrapper__, db.connection().pipeline():
        cursors = [db.execute_sql(sql, params) for sql, params in statements]
    return [(cursor.fetchall() if cursor.description else None, cursor.rowcount)
            for cursor in cursors]
