"""Saving a template that cannot be compiled within its bounds is a 422 naming the step
and field; one that only costs at render time is saved at once, without evaluating it."""
import pytest

from tests.conftest import BASE


def patch_sequence(api, campaign_id, sequence):
    return api.patch(f"{BASE}/{campaign_id}", json={"sequence": sequence})


def fields_of(response):
    assert response.status_code == 422, response.json
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "validation_error"
    return response.json["error"]["details"]["fields"]


@pytest.mark.parametrize("body, reason", [
    ("x" * 20_001, "longer than 20000 characters"),
    ("{% if a %}" * 11 + "{% endif %}" * 11, "nested more than 10 deep"),
    ("{{ " + "(" * 500 + "1" + ")" * 500 + " }}", "nested too deeply"),
    ("{{ " + "9" * 5000 + " }}", "a value that cannot be used"),
], ids=["size", "blocks", "expression", "digits"])
def test_a_template_over_its_bounds_is_422_naming_step_and_field(api, create_campaign, body,
                                                                  reason):
    campaign_id = create_campaign()["id"]
    fields = fields_of(patch_sequence(api, campaign_id, [
        {"subject": "Hi", "body": "ok"}, {"subject": "", "body": body}]))
    assert list(fields["sequence"]) == ["1"]
    assert list(fields["sequence"]["1"]) == ["body"]
    assert reason in fields["sequence"]["1"]["body"][0]
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["sequence"] == []


def test_a_subject_over_its_bounds_is_422_naming_the_subject(api, create_campaign):
    campaign_id = create_campaign()["id"]
    fields = fields_of(patch_sequence(api, campaign_id, [
        {"subject": "{% for i in x %}" * 11 + "{% endfor %}" * 11, "body": "ok"}]))
    assert list(fields["sequence"]["0"]) == ["subject"]
    assert "nested more than 10 deep" in fields["sequence"]["0"]["subject"][0]


@pytest.mark.parametrize("body", ["{{ 99999 ** 99999 ** 99 }}", "{{ 'x' * 10 ** 8 }}"])
def test_a_huge_expression_is_saved_without_being_evaluated(api, create_campaign, body):
    """The compiler folded constants before: saving this held the worker for minutes, or
    kept 100 MB per cached template."""
    campaign_id = create_campaign()["id"]
    response = patch_sequence(api, campaign_id, [{"subject": "Hi", "body": body}])
    assert response.status_code == 200, response.json
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["sequence"][0]["body"] == body
