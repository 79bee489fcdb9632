"""next_opening across a clock change that swallows a week's only window."""
import datetime as dt

from app.sending.schedule import in_window, next_opening


def test_a_window_lost_to_summer_time_opens_the_week_after():
    # Chile moves its clocks from 00:00 to 01:00 on Sunday 2026-09-06: that Sunday's
    # 00:00-00:30 window never happens, and the next one is a week later.
    settings = {"timezone": "America/Santiago",
                "schedule": {"days": ["sun"], "start": "00:00", "end": "00:30"}}
    saturday_evening = dt.datetime(2026, 9, 5, 23, 1)  # UTC
    opening = next_opening(saturday_evening, settings)
    assert opening == dt.datetime(2026, 9, 13, 3, 0)
    assert in_window(opening, settings)
