"""When mail may go out: schedule windows and local days in the campaign's time zone.

All instants are naive UTC (see app.clock); the campaign's settings give the zone.
"""
import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.models import WEEKDAYS

UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": 1440}


@lru_cache(maxsize=256)
def _zone(name):
    return ZoneInfo(name)


def local(moment, timezone):
    """The local wall-clock time of a naive-UTC instant."""
    return moment.replace(tzinfo=dt.UTC).astimezone(_zone(timezone))


def local_day(moment, timezone):
    return local(moment, timezone).date().isoformat()


def in_window(moment, settings):
    """Is ``moment`` inside the campaign's sending days and hours (local time)?"""
    schedule = settings["schedule"]
    wall = local(moment, settings["timezone"])
    if WEEKDAYS[wall.weekday()] not in schedule["days"]:
        return False
    hhmm = wall.strftime("%H:%M")
    return schedule["start"] <= hhmm < schedule["end"]


def step_delay(step):
    return dt.timedelta(minutes=step.get("delay", 0) * UNIT_MINUTES[step.get("delay_unit", "days")])


def next_due(sequence, after_step, sent_at):
    """When step ``after_step + 1`` is due, or None when the sequence is done."""
    if after_step >= len(sequence):
        return None
    return sent_at + step_delay(sequence[after_step])


def _first_at_or_after(day, hhmm, timezone):
    """The first instant (naive UTC) whose local wall time is ``day`` at ``hhmm`` or
    later. At a gap in the clock (a change to summer time) that is the change itself;
    at a repeated hour, the first time round."""
    zone = _zone(timezone)
    wall = dt.datetime.combine(day, dt.time(*map(int, hhmm.split(":"))))
    lo, hi = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC).replace(tzinfo=None)
                    for fold in (0, 1))

    def reached(moment):
        return local(moment, timezone).replace(tzinfo=None) >= wall

    if reached(lo):
        return lo
    # Inside the gap: lo's wall time is before it, hi's after; the change lies between
    # (at a whole second).
    while hi - lo > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            break
        lo, hi = (lo, mid) if reached(mid) else (mid, hi)
    return hi


def next_opening(moment, settings):
    """The first instant at or after ``moment`` inside the campaign's window, or None
    when it has none. A week's only window day can fall in a clock change (a Sunday
    00:00-00:30 window on the night summer time starts), so two weeks are looked at."""
    if in_window(moment, settings):
        return moment
    schedule, timezone = settings["schedule"], settings["timezone"]
    today = local(moment, timezone).date()
    for ahead in range(15):
        day = today + dt.timedelta(days=ahead)
        if WEEKDAYS[day.weekday()] not in schedule["days"]:
            continue
        opening = _first_at_or_after(day, schedule["start"], timezone)
        if opening >= moment and in_window(opening, settings):
            return opening
    return None


def next_local_midnight(moment, timezone):
    """When the local day after ``moment``'s begins (a daily limit's next day)."""
    tomorrow = local(moment, timezone).date() + dt.timedelta(days=1)
    return _first_at_or_after(tomorrow, "00:00", timezone)
