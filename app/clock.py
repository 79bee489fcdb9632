"""The one source of "now" (naive UTC), so tests can move time instead of sleeping."""
import datetime as _dt

_frozen = None


def now():
    if _frozen is not None:
        return _frozen
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


def freeze(moment):
    """Pin now() to ``moment`` (naive UTC or aware); ``None`` lets time run again."""
    global _frozen
    if moment is not None and moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC).replace(tzinfo=None)
    _frozen = moment


def advance(**delta):
    freeze(now() + _dt.timedelta(**delta))


def utc_text(moment):
    """A naive UTC (or aware) datetime as the API writes it: ``2025-11-01T10:00:00Z``,
    cut to the second."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"
