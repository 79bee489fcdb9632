"""Text that can never be stored or mailed is a 422 naming the field, never a 500."""
import pytest

from tests.conftest import BASE

SURROGATE = '{"workspace_slug": "acme-corp", "name": "\\ud800"}'


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "k-1"}])
def test_a_lone_surrogate_in_a_body_is_422_naming_the_field(api, tenant, headers):
    response = api.post(BASE, data=SURROGATE, content_type="application/json",
                        headers=headers)

    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert list(response.json["error"]["details"]["fields"]) == ["name"]
    assert api.get(f"{BASE}?workspace={tenant.slug}").json["pagination"]["total"] == 0


def test_a_lone_surrogate_in_a_nested_setting_is_422_naming_it(api, create_campaign):
    campaign_id = create_campaign()["id"]

    response = api.patch(f"{BASE}/{campaign_id}", data='{"settings": {"from_name": "\\udfff"}}',
                         content_type="application/json")

    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"] == {
        "settings": {"from_name": [response.json["error"]["details"]["fields"]["settings"]
                                   ["from_name"][0]]}}
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["settings"]["from_name"] is None


def test_a_lead_with_a_lone_surrogate_is_reported_alone(api, create_campaign):
    campaign_id = create_campaign()["id"]
    body = '{"leads": [{"email": "a@example.com"}, {"email": "b@example.com", "first_name": "\\ud800"}]}'

    response = api.post(f"{BASE}/{campaign_id}/leads", data=body,
                        content_type="application/json")

    assert response.status_code == 200
    assert response.json["data"]["added"] == 1
    assert [item["index"] for item in response.json["data"]["invalid"]] == [1]
    assert list(response.json["data"]["invalid"][0]["errors"]) == ["first_name"]


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x7f", "\x85", "\u2028", "\u2029", "\r\n"])
def test_control_characters_in_a_subject_are_422(api, create_campaign, char):
    campaign_id = create_campaign()["id"]

    response = api.patch(f"{BASE}/{campaign_id}", json={
        "sequence": [{"subject": f"Hi{char}there", "body": "Hello"}]})

    assert response.status_code == 422
    assert "subject" in response.json["error"]["details"]["fields"]["sequence"]["0"]


@pytest.mark.parametrize("char", ["\x0b", "\x85", "\u2028"])
def test_control_characters_in_from_name_are_422(api, create_campaign, char):
    campaign_id = create_campaign()["id"]

    response = api.patch(f"{BASE}/{campaign_id}", json={"settings": {"from_name": f"A{char}B"}})

    assert response.status_code == 422
    assert "from_name" in response.json["error"]["details"]["fields"]["settings"]


def test_a_json_array_body_gets_a_sentence(api):
    response = api.post(BASE, json=[{"name": "x"}])

    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"] == {
        "_schema": ["The body must be a JSON object."]}


def test_an_unknown_camel_case_field_names_the_right_one(api, tenant):
    response = api.post(BASE, json={"workspaceSlug": tenant.slug, "name": "x"})

    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"]["workspaceSlug"] == [
        "Not a known field; did you mean 'workspace_slug'?"]
