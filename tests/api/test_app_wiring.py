"""The app's JSON encoder, and the per-request costs the App class takes out."""
import dataclasses
import datetime as dt
import decimal
import json
import uuid

import flask
import flask.app
import pytest
from flask.json.provider import DefaultJSONProvider
from flask.sessions import NullSession


@dataclasses.dataclass
class Point:
    x: int
    y: str


SAMPLES = [
    {"success": True, "data": [{"id": "cmp_1", "name": "Café ☕ 日本", "n": 3}]},
    {"error": {"details": {"fields": {0: {"subject": ["Step 1 needs a subject."]}}}}},
    {"when": dt.datetime(2026, 11, 29, 10, 0), "day": dt.date(2026, 1, 2)},
    {"money": decimal.Decimal("1.10"), "id": uuid.UUID(int=7), "point": Point(1, "é")},
    [1, 2.5, None, False, "\u2028 \"quoted\" \\ </script>"],
]


@pytest.mark.parametrize("value", SAMPLES)
def test_bodies_carry_the_same_json_as_flasks_encoder(app, value):
    ours = app.json.dumps(value)
    flasks = DefaultJSONProvider(app).dumps(value)

    assert json.loads(ours) == json.loads(flasks)


def test_a_response_is_compact_utf8_json_ending_in_a_newline(app):
    with app.test_request_context():
        response = flask.jsonify({"name": "Café", "list": [1, 2]})

    assert response.mimetype == "application/json"
    assert response.get_data() == '{"name":"Café","list":[1,2]}\n'.encode()


def test_in_debug_mode_responses_are_flasks_own_pretty_printed_json(app):
    app.debug = True
    try:
        with app.test_request_context():
            response = flask.jsonify({"name": "Café", "list": [1, 2]})
    finally:
        app.debug = False

    assert response.mimetype == "application/json"
    assert response.get_data(as_text=True) == (
        '{\n  "name": "Caf\\u00e9",\n  "list": [\n    1,\n    2\n  ]\n}\n')


def test_an_integer_beyond_64_bits_falls_back_to_flasks_encoder(app):
    big = 10**30

    assert json.loads(app.json.dumps({"n": big})) == {"n": big}
    with app.test_request_context():
        assert json.loads(flask.jsonify({"n": big}).get_data()) == {"n": big}


def test_no_cookie_session_is_opened(app, client, tenant):
    with app.test_request_context():
        assert isinstance(flask.session, NullSession)

    response = client.get(f"/api/v1/tenant/campaigns?workspace={tenant.slug}",
                          headers=tenant.headers)

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_query_strings_read_first_values_unless_a_field_takes_a_list(app):
    import marshmallow as ma

    from app.api.core.blueprint import StrictJSONParser
    from app.api.core.schemas import Schema

    class Plain(Schema):
        name = ma.fields.String()

    class Tagged(Plain):
        tags = ma.fields.List(ma.fields.String())

    parser = StrictJSONParser()
    with app.test_request_context("/?name=a&name=b&tags=x&tags=y"):
        assert parser.parse(Plain(), location="query", unknown=ma.EXCLUDE) == {"name": "a"}
        assert parser.parse(Tagged(), location="query") == {"name": "a", "tags": ["x", "y"]}
    with app.test_request_context("/?name=a%00"):
        with pytest.raises(Exception) as refused:
            parser.parse(Plain(), location="query")
        assert refused.value.code == 422
