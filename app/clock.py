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
    """A UTC time as the API writes it, ``2025-11-01T10:00:00Z``, cut to the second.

    ``moment`` is a naive UTC (or aware) datetime, or the text SQLite keeps one as,
    ``YYYY-MM-DD HH:MM:SS[.ffffff]``: that is sliced rather than parsed, a fifth of the
    cost, which a list page pays forty times. Text of any other shape (an offset, a
    date alone) is parsed.
    """
    if type(moment) is str:
        if (len(moment) == 19 or (len(moment) == 26 and moment[19] == ".")) \
                and moment[10] in " T":
            return f"{moment[:10]}T{moment[11:19]}Z"
        moment = _dt.datetime.fromisoformat(moment)
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"
