"""Response bodies encoded by orjson."""
import orjson
from flask import current_app
from flask.json.provider import DefaultJSONProvider

_ORJSON_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS)


class JSONProvider(DefaultJSONProvider):
    """What Flask's encoder writes (compact, keys in the schemas' order, dates and the
    like through Flask's ``default``) in a fraction of the time. Text outside ASCII is
    sent as UTF-8 instead of ``\\u`` escapes; both are the same JSON. A value orjson
    refuses (an integer beyond 64 bits, text with a lone surrogate) falls back to
    Flask's encoder. Only the public ``dumps`` and ``response`` are overridden.
    """

    sort_keys = False

    def _encode(self, obj):
        try:
            return orjson.dumps(obj, default=self.default, option=_ORJSON_OPTIONS)
        except TypeError:
            return super().dumps(obj, separators=(",", ":")).encode()

    def dumps(self, obj, **kwargs):
        if kwargs:
            return super().dumps(obj, **kwargs)
        return self._encode(obj).decode()

    def response(self, *args, **kwargs):
        """As Flask's: one positional argument is the value, several are a list, keyword
        arguments are an object, none is ``null``; not both kinds at once."""
        if current_app.debug or self.compact is False:
            return super().response(*args, **kwargs)
        if args and kwargs:
            raise TypeError("app.json.response() takes either args or kwargs, not both")
        obj = (args[0] if len(args) == 1 else list(args)) if args else (kwargs or None)
        return current_app.response_class(self._encode(obj) + b"\n", mimetype=self.mimetype)
