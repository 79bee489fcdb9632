"""Every error message a client can get is a sentence of ours, never marshmallow's own
words ("Missing data for required field.", "Not a valid string.", "Invalid input type.",
"Unknown field."), with the field paths and the error envelope as they were."""
import inspect
import re

import marshmallow as ma
import pytest

from app.api.core.schemas import Schema
from tests.conftest import BASE


def marshmallows_words():
    """Every message marshmallow writes itself, as a pattern ({min} and the like: anything).
    "Must be one of: ..." (OneOf, Enum) is left out: it is a sentence a person can act on."""
    texts = set(ma.Schema._default_error_messages.values())
    for _name, cls in inspect.getmembers(ma.fields, inspect.isclass):
        texts.update(getattr(cls, "default_error_messages", {}).values())
    length, bound = ma.validate.Length, ma.validate.Range
    texts.update((length.message_min, length.message_max, length.message_all,
                  length.message_equal))
    lower, upper = (bound.message_gte, bound.message_gt), (bound.message_lte, bound.message_lt)
    for min_op in lower:
        texts.add(bound.message_min.format(min_op=min_op))
        for max_op in upper:
            texts.add(bound.message_all.format(min_op=min_op, max_op=max_op))
    texts.update(bound.message_max.format(max_op=max_op) for max_op in upper)
    texts.add(ma.validate.Regexp.default_message)
    texts.add("Invalid value.")
    texts.discard(ma.validate.OneOf.default_message)
    return [re.compile(re.escape(re.sub(r"\{+[^{}]*\}+", "@@", text)).replace("@@", ".*") + "$")
            for text in texts]


WORDS = marshmallows_words()


def is_marshmallows(message):
    return any(pattern.match(message) for pattern in WORDS)


def all_schemas(app):
    """Every schema class of the app (importing the app imports every resource)."""
    found, pending = [], [Schema]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__.startswith("app.")]


def fields_within(field):
    pending = [field]
    while pending:
        field = pending.pop()
        yield field
        if isinstance(field, ma.fields.List):
            pending.append(field.inner)
        elif isinstance(field, ma.fields.Tuple):
            pending.extend(field.tuple_fields)
        elif isinstance(field, ma.fields.Mapping):
            pending.extend(f for f in (field.key_field, field.value_field) if f is not None)


def validator_messages(validator):
    if isinstance(validator, ma.validate.Length | ma.validate.Range):
        return [validator.error]  # None: marshmallow words it at the moment it fails
    return [getattr(validator, "error", "")]


def test_the_survey_knows_marshmallows_words():
    for text in ("Missing data for required field.", "Not a valid string.",
                 "Invalid input type.", "Unknown field.", "Not a valid mapping type.",
                 "Length must be between 1 and 200.", "Shorter than minimum length 1.",
                 "Must be greater than or equal to 1 and less than or equal to 100."):
        assert is_marshmallows(text), text
    assert not is_marshmallows("This field is required.")


def test_no_field_of_any_schema_keeps_a_message_of_marshmallows(app):
    schemas = all_schemas(app)
    assert len(schemas) > 20
    left = []
    for cls in schemas:
        schema = cls()
        left += [(cls.__name__, "schema", m) for m in schema.error_messages.values()
                 if is_marshmallows(m)]
        for name, top in schema.fields.items():
            for field in fields_within(top):
                # "format" is a dump's: our own value that cannot be written is a 500.
                left += [(cls.__name__, name, m) for key, m in field.error_messages.items()
                         if key != "format" and is_marshmallows(m)]
                for validator in field.validators:
                    left += [(cls.__name__, name, m) for m in validator_messages(validator)
                             if m is None or is_marshmallows(m)]
    assert left == []


def all_messages(fields):
    if isinstance(fields, dict):
        for value in fields.values():
            yield from all_messages(value)
    else:
        yield from fields


@pytest.mark.parametrize(("body", "fields"), [
    ({}, {"workspace_slug": ["This field is required."], "name": ["This field is required."]}),
    ({"workspace_slug": 5, "name": None},
     {"workspace_slug": ["Must be text (a JSON string)."], "name": ["Must not be null."]}),
    ({"workspace_slug": "acme-corp", "name": "", "goal": "fun"},
     {"name": ["Must be 1 to 200 characters long."],
      "goal": ["Must be one of: awareness, lead_gen, sales."]}),
    ({"workspace_slug": "acme-corp", "name": "x", "colour": "red"},
     {"colour": ["Not a known field; check its spelling."]}),
    ({"workspace_slug": "acme-corp", "name": "x", "workspaceSlug": "y"},
     {"workspaceSlug": ["Not a known field; did you mean 'workspace_slug'?"]}),
], ids=["missing", "wrong-types", "bounds", "unknown", "camel-case"])
def test_create_errors_are_sentences_in_the_envelope(api, body, fields):
    response = api.post(BASE, json=body)
    assert response.status_code == 422
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "validation_error"
    assert response.json["error"]["details"]["fields"] == fields


def test_nested_errors_keep_their_paths_and_are_sentences(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(f"{BASE}/{campaign['id']}", json={
        "settings": {"daily_limit": 0, "track_opens": "yes", "schedule": []},
        "sequence": [{"subject": 3, "body": "b"}, "step two"]})
    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"] == {
        "settings": {"daily_limit": ["Must be from 1 to 10000."],
                     "track_opens": ["Must be true or false."],
                     "schedule": {"_schema": ["Must be a JSON object."]}},
        "sequence": {"0": {"subject": ["Must be text (a JSON string)."]},
                     "1": {"_schema": ["Must be a JSON object."]}}}


def test_wrong_containers_are_named_in_sentences(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(f"{BASE}/{campaign['id']}", json={
        "sequence": "one step", "settings": {"schedule": {"days": []}}})
    assert response.json["error"]["details"]["fields"] == {
        "sequence": ["Must be a list (a JSON array)."],
        "settings": {"schedule": {"days": ["Must hold 1 to 7 items."]}}}


def test_query_errors_are_sentences(api):
    response = api.get(f"{BASE}?workspace=acme-corp&limit=0&offset=x&sort=name")
    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"] == {
        "limit": ["Must be from 1 to 100."], "offset": ["Must be a whole number."],
        "sort": ["Not a known field; check its spelling."]}


def test_a_lead_reported_alone_gets_sentences_too(api, create_campaign):
    campaign = create_campaign()
    response = api.post(f"{BASE}/{campaign['id']}/leads", json={"leads": [
        {"email": None, "custom_fields": [], "firstName": "Grace"}]})
    assert response.status_code == 200, response.json
    [invalid] = response.json["data"]["invalid"]
    assert invalid["errors"] == {
        "email": ["Must not be null."], "custom_fields": ["Must be a JSON object."],
        "firstName": ["Not a known field; did you mean 'first_name'?"]}
    assert not [m for m in all_messages(invalid["errors"]) if is_marshmallows(m)]
