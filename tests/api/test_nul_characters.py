"""A NUL character is refused the same way on SQLite and Postgres (which cannot store one)."""
from app import database
from app.models import Campaign
from tests.conftest import BASE

NUL_ERROR = "Must not contain NUL characters."


def _count_campaigns():
    with database.connection():
        return Campaign.select().count()


def test_nul_in_a_body_field_is_422_naming_the_field(api, tenant):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": "Q4\x00"})
    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"] == {"name": [NUL_ERROR]}
    assert _count_campaigns() == 0


def test_nul_is_reported_together_with_other_bad_fields(api, tenant):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": "Q4\x00",
                                    "goal": "fame"})
    assert response.status_code == 422
    assert set(response.json["error"]["details"]["fields"]) == {"name", "goal"}


def test_nul_in_a_nested_field_is_reported_at_its_path(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(f"{BASE}/{campaign['id']}",
                         json={"sequence": [{"subject": "Hi\x00", "body": "Hello"}]})
    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"] == {
        "sequence": {"0": {"subject": [NUL_ERROR]}}}
    assert api.get(f"{BASE}/{campaign['id']}").json["data"]["sequence"] == []


def test_nul_in_a_query_parameter_is_422(api):
    response = api.get(f"{BASE}?workspace=acme%00corp")
    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"] == {"workspace": [NUL_ERROR]}


def test_nul_in_a_campaign_id_is_404(api, create_campaign):
    create_campaign()
    response = api.get(f"{BASE}/cmp_%00")
    assert response.status_code == 404
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "not_found"


def test_nul_in_a_campaign_id_without_a_key_is_still_401(client):
    response = client.get(f"{BASE}/cmp_%00")
    assert response.status_code == 401
