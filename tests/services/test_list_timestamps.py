"""SQLite's stored timestamps become the API's text as UTCDateTime writes a datetime."""
import datetime as dt

import pytest

from app.api.core import UTCDateTime
from app.services.campaigns import _sqlite_utc_text


def as_api_writes(stamp):
    return UTCDateTime()._serialize(stamp, "at", None)


@pytest.mark.parametrize("text", [
    "2025-11-01 10:00:00",                 # no microseconds: str() leaves them out
    "2025-11-01 10:00:00.999999",          # cut, not rounded
    "2024-02-29 23:59:59.5",
    "2025-11-01T10:00:00.123456",          # written with a T
    "2025-11-01 12:00:00+02:00",           # with an offset: moved to UTC
    "2025-11-01",                          # a date alone: midnight
])
def test_stored_text_reads_as_the_api_writes_the_datetime(text):
    assert _sqlite_utc_text(text) == as_api_writes(dt.datetime.fromisoformat(text))
