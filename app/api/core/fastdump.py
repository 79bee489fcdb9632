"""marshmallow's dump loop without its per-field call chain: the one private-API exception.

A list page dumps some 260 fields; for each, marshmallow calls serialize -> get_value ->
get_attribute -> utils.get_value -> _get_value_for_key before the field's own
``_serialize``. Measured side by side on the campaign list (page of 20, SQLite, in
process), this loop serves about 40% more requests a second, so it stays, isolated here.

It reads marshmallow internals (``Schema._serialize``, ``Field._CHECK_ATTRIBUTE``,
``Schema._hooks``): CHECKED_AGAINST names the marshmallow release they were read from,
and tests/api/test_fast_dump.py fails when the installed release differs, so an upgrade
is a conscious step (re-read those names, re-run the equivalence tests, bump it).
ENABLED turns it off (marshmallow's own loop) for the equivalence tests and benchmarks.
"""
import marshmallow as ma
from marshmallow.decorators import POST_DUMP, PRE_DUMP

CHECKED_AGAINST = "4.4.0"
ENABLED = True

_PASS_THROUGH = {ma.fields.String: str, ma.fields.Integer: int, ma.fields.Boolean: bool}


class FastDump:
    """Mixed into app.api.core.schemas.Schema (before ma.Schema)."""

    def _serialize(self, obj, *, many=False):
        """A field that keeps marshmallow's default lookup reads the value straight off a
        dict or an object and calls its ``_serialize`` directly; a String, Integer or
        Boolean whose value already has the exact type is left as it is (what their
        ``_serialize`` returns). Anything else (a missing value, dump defaults, dotted
        attributes, an object with ``__getitem__``, fields or schemas that override the
        lookup) goes through ``Field.serialize`` as before.
        """
        if not ENABLED:
            return super()._serialize(obj, many=many)
        if many and obj is not None:
            return [self._serialize(item) for item in obj]
        plan = self.__dict__.get("_dump_plan")
        if plan is None:
            plan = self._dump_plan = _dump_plan(self)
        missing = ma.missing
        if type(obj) is dict:
            lookup = 1
        elif obj is None or hasattr(obj, "__getitem__"):
            lookup = 0
        else:
            lookup = 2
        accessor = self.get_attribute
        ret = self.dict_class()
        for key, name, source, field, exact, nested in plan:
            if source is None or not lookup:
                value = missing
            elif lookup == 1:
                value = obj.get(source, missing)
            else:
                value = getattr(obj, source, missing)
            if value is missing:
                value = field.serialize(name, obj, accessor=accessor)
                if value is missing:
                    continue
            elif value is None and (exact is not None or nested is not None):
                pass
            elif nested is not None:
                value = (nested._serialize(value) if exact is not list else
                         [None if each is None else nested._serialize(each) for each in value])
            elif type(value) is not exact:
                value = field._serialize(value, name, obj)
            ret[key] = value
        return ret


def _dump_plan(schema):
    """Per dump field: (key, name, source, field, exact type, nested schema).

    source None: the field goes the slow way. A nested schema is given when a plain
    Nested field of one object holds one of ours without dump hooks (or a List holds
    such a field; exact is then ``list``): its loop is called straight away, which is
    what Nested._serialize -> Schema.dump come to.
    """
    default_lookup = type(schema).get_attribute is ma.Schema.get_attribute
    plan = []
    for name, field in schema.dump_fields.items():
        source = field.attribute if field.attribute is not None else name
        direct = (default_lookup and field._CHECK_ATTRIBUTE and "." not in source
                  and type(field).serialize is ma.fields.Field.serialize
                  and type(field).get_value is ma.fields.Field.get_value)
        exact = _PASS_THROUGH.get(type(field))
        if exact is int and field.as_string:
            exact = None
        nested = _plain_nested(field)
        if nested is None and type(field) is ma.fields.List:
            # A List of such a Nested field: each item through the loop (List._serialize).
            nested = _plain_nested(field.inner)
            exact = list if nested is not None else None
        key = field.data_key if field.data_key is not None else name
        plan.append((key, name, source if direct else None, field, exact, nested))
    return tuple(plan)


def _plain_nested(field):
    """The schema of a Nested field of one object, ours and without dump hooks, or None."""
    if type(field) is not ma.fields.Nested or field.many:
        return None
    inner = field.schema
    if (isinstance(inner, FastDump) and not inner.many
            and not inner._hooks[PRE_DUMP] and not inner._hooks[POST_DUMP]):
        return inner
    return None
