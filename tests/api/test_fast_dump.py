"""The schemas' fast dump loop answers what marshmallow's own loop answers.

app.api.core.fastdump reads plain fields straight off the object; these tests dump the
same generated objects both ways (the fast loop switched off for the reference) and
compare results, or the exception both raise. It reads marshmallow internals, so a
marshmallow release other than the one it was checked against fails here first.
"""
import datetime as dt
import importlib.metadata
import types

import marshmallow as ma
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import database
from app.api.campaigns.schemas import CampaignDetailSchema, CampaignListEnvelope
from app.api.core import fastdump
from app.api.core.schemas import Schema, UTCDateTime
from app.services import campaigns
from app.services.campaigns import CampaignSummary


def test_marshmallow_is_the_release_the_fast_loop_was_checked_against():
    installed = importlib.metadata.version("marshmallow")
    assert installed == fastdump.CHECKED_AGAINST, (
        f"marshmallow {installed} is installed; app/api/core/fastdump.py reads its "
        f"internals as of {fastdump.CHECKED_AGAINST}. Re-read Schema._serialize, "
        "Field._CHECK_ATTRIBUTE and Schema._hooks in the new release, run these tests, "
        "then set CHECKED_AGAINST (or delete the fast loop).")


def test_switched_off_the_reference_loop_is_marshmallows_own():
    # Otherwise every comparison below would compare the fast loop with itself.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastdump, "ENABLED", False)
        schema = Inner()
        assert schema.dump({"n": 1, "s": "x"}) == {"n": 1, "s": "x"}
        assert "_dump_plan" not in vars(schema)
    schema.dump({"n": 1})
    assert "_dump_plan" in vars(schema)


class Inner(Schema):
    n = ma.fields.Integer()
    s = ma.fields.String()


class Hooked(Inner):
    """Dump hooks: a Nested field holding it must go through Schema.dump."""

    @ma.post_dump
    def _mark(self, data, **kwargs):
        return {**data, "hooked": True}


class Constantly(ma.fields.String):
    """A field with its own lookup: must keep it."""

    def get_value(self, obj, attr, accessor=None, default=ma.missing):
        return "looked up"


class Everything(Schema):
    text = ma.fields.String()
    number = ma.fields.Integer()
    number_text = ma.fields.Integer(as_string=True)
    ratio = ma.fields.Float()
    flag = ma.fields.Boolean()
    when = UTCDateTime()
    renamed = ma.fields.String(data_key="renamedKey")
    sourced = ma.fields.String(attribute="other")
    dotted = ma.fields.Integer(attribute="inner.n")
    defaulted = ma.fields.String(dump_default="fallback")
    inner = ma.fields.Nested(Inner, allow_none=True)
    inners = ma.fields.List(ma.fields.Nested(Inner))
    nested_many = ma.fields.Nested(Inner, many=True)
    hooked = ma.fields.Nested(Hooked)
    hookeds = ma.fields.List(ma.fields.Nested(Hooked))
    partial = ma.fields.Nested(Inner, only=("n",))
    method = ma.fields.Method("_twice")
    constant = ma.fields.Constant(7)
    custom = Constantly()
    raw = ma.fields.Raw()

    def _twice(self, obj):
        return 2


class OwnLookup(Everything):
    """A schema with its own get_attribute: every field must go through it."""

    def get_attribute(self, obj, attr, default):
        value = super().get_attribute(obj, attr, default)
        return value.upper() if isinstance(value, str) else value


class Indexable:
    """An object with __getitem__ that knows one key; marshmallow falls back to getattr."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)

    def __getitem__(self, key):
        if key == "text":
            return "from getitem"
        raise KeyError(key)


scalars = st.one_of(
    st.none(), st.text(max_size=5), st.integers(-10**6, 10**6), st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False), st.binary(max_size=3),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1),
                 timezones=st.just(dt.UTC)))
inner_values = st.one_of(st.none(), st.fixed_dictionaries(
    {}, optional={"n": st.integers(-100, 100), "s": st.one_of(st.text(max_size=3),
                                                               st.integers())}))
KEYS = ("text", "number", "number_text", "ratio", "flag", "when", "renamed", "other",
        "defaulted", "custom", "raw", "constant", "method")
contents = st.fixed_dictionaries(
    {}, optional={**{key: scalars for key in KEYS}, "inner": inner_values,
                  "hooked": inner_values, "partial": inner_values,
                  **{key: st.lists(inner_values.filter(lambda v: v is not None), max_size=3)
                     for key in ("inners", "nested_many", "hookeds")}})


def shapes(values):
    return st.sampled_from(["dict", "object", "indexable"]).map(
        lambda shape: values if shape == "dict" else
        types.SimpleNamespace(**values) if shape == "object" else Indexable(**values))


objects = contents.flatmap(lambda values: st.just(values) | shapes(values))


def outcome(dump):
    try:
        return ("ok", dump())
    except Exception as exc:  # noqa: BLE001 - both loops must fail the same way
        return ("raised", type(exc))


def both_ways(schema, obj, **kwargs):
    fast = outcome(lambda: schema.dump(obj, **kwargs))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastdump, "ENABLED", False)
        # A fresh instance: nothing cached by the fast loop is reused.
        reference = outcome(lambda: type(schema)().dump(obj, **kwargs))
    return fast, reference


PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(obj=objects)
def test_every_kind_of_field_dumps_as_marshmallow_dumps_it(obj):
    fast, reference = both_ways(Everything(), obj)
    assert fast == reference


@PROPERTY
@given(obj=objects)
def test_a_schema_with_its_own_lookup_keeps_it(obj):
    fast, reference = both_ways(OwnLookup(), obj)
    assert fast == reference


@PROPERTY
@given(items=st.lists(objects, max_size=4))
def test_many_dumps_each_item_as_marshmallow_does(items):
    fast, reference = both_ways(Everything(), items, many=True)
    assert fast == reference


def test_none_dumps_as_marshmallow_dumps_it():
    assert both_ways(Everything(), None)[0] == both_ways(Everything(), None)[1]


summary_rows = st.tuples(
    st.text(min_size=1, max_size=8), st.text(max_size=8),
    st.sampled_from(["draft", "active", "paused", "completed"]), st.text(max_size=8),
    *[st.integers(0, 2**40)] * 6,
    # The timestamps as SQLite hands them back.
    *[st.datetimes(min_value=dt.datetime(2000, 1, 1)).map(str)] * 2)


@PROPERTY
@given(rows=st.lists(summary_rows, max_size=5), total=st.integers(0, 10**6))
def test_the_list_page_dumps_as_marshmallow_dumps_it(rows, total):
    body = {"success": True, "data": [CampaignSummary(row) for row in rows],
            "pagination": {"total": total, "limit": 20, "offset": 0, "has_more": False}}
    fast, reference = both_ways(CampaignListEnvelope(), body)
    assert fast[0] == "ok"
    assert fast == reference


def test_a_campaign_dumps_as_marshmallow_dumps_it(app, tenant, ready_campaign):
    campaign_id = ready_campaign()["id"]
    with app.app_context(), database.connection():
        campaign = campaigns.get_campaign(tenant.model, campaign_id)
        fast, reference = both_ways(CampaignDetailSchema(), campaign)

    assert fast[0] == "ok"
    assert fast[1]["sequence"] and fast[1]["allowed_actions"] == ["start"]
    assert fast == reference
