"""UTCDateTime writes SQLite's stored text (a list reads its columns raw) as it writes
the datetime that text stands for."""
import datetime as dt

import pytest

from app.api.core.schemas import UTCDateTime


def as_api_writes(stamp):
    return UTCDateTime().serialize("at", {"at": stamp})


@pytest.mark.parametrize("text", [
    "2025-11-01 10:00:00",                 # no microseconds: str() leaves them out
    "2025-11-01 10:00:00.999999",          # cut, not rounded
    "2024-02-29 23:59:59.5",
    "2025-11-01T10:00:00.123456",          # written with a T
    "2025-11-01 12:00:00+02:00",           # with an offset: moved to UTC
    "2025-11-01",                          # a date alone: midnight
])
def test_stored_text_reads_as_the_api_writes_the_datetime(text):
    assert as_api_writes(text) == as_api_writes(dt.datetime.fromisoformat(text))


@pytest.mark.parametrize(("stamp", "written"), [
    ("2025-11-01 10:00:00.999999", "2025-11-01T10:00:00Z"),
    ("2025-11-01 12:00:00+02:00", "2025-11-01T10:00:00Z"),
    (dt.datetime(2025, 11, 1, 10, 0, 59, 999_999), "2025-11-01T10:00:59Z"),
    (dt.datetime(2025, 11, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     "2025-11-01T10:00:00Z"),
])
def test_written_in_utc_to_the_second(stamp, written):
    assert as_api_writes(stamp) == written
