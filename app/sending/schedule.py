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
