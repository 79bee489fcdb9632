"""The SQLite connection's settings: each one is there for a behaviour or a cost."""
import pytest

from app import database


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
    ("mmap_size", 256 * 1024 * 1024),
])
def test_every_connection_has_the_pragmas(sqlite, pragma, expected):
    assert sqlite.execute_sql(f"PRAGMA {pragma}").fetchone()[0] == expected


def test_memory_databases_are_refused():
    with pytest.raises(ValueError, match="SQLite file"):
        database.make_database("sqlite:///:memory:")
