"""POST /api/v1/tenant/campaigns: a validated draft in one of the tenant's workspaces."""
import datetime as dt

import pytest

from app import clock, database
from app.models import Campaign
from tests.conftest import BASE


def count_campaigns():
    with database.connection():
        return Campaign.select().count()


def assert_validation_error(response, *fields):
    assert response.status_code == 422
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "validation_error"
    assert set(fields) <= set(response.json["error"]["details"]["fields"])


def test_create_is_201_with_a_draft(api, tenant):
    clock.freeze(dt.datetime(2025, 11, 1, 10, 0, 0))
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": "New Campaign",
                                    "goal": "sales"})
    assert response.status_code == 201
    body = response.json
    assert body["success"] is True
    assert body["data"]["name"] == "New Campaign"
    assert body["data"]["status"] == "draft"
    assert body["data"]["goal"] == "sales"
    assert body["data"]["workspace_slug"] == tenant.slug
    assert body["data"]["sequence"] == []
    assert body["data"]["created_at"] == "2025-11-01T10:00:00Z"
    assert response.headers["ETag"] == '"v1"'
    with database.connection():
        stored = Campaign.get_by_id(body["data"]["id"])
    assert (stored.name, stored.status, stored.tenant_id) == \
        ("New Campaign", "draft", tenant.model.id)


def test_created_campaign_can_be_read_back(api, create_campaign):
    created = create_campaign(name="Readable")
    response = api.get(f"{BASE}/{created['id']}")
    assert response.status_code == 200
    assert response.json["data"]["name"] == "Readable"
    assert response.json["data"]["status"] == "draft"


def test_detail_has_sequence_settings_stats_goal_timestamps_and_actions(api, create_campaign):
    clock.freeze(dt.datetime(2025, 11, 1, 10, 0, 0))
    campaign_id = create_campaign(goal="awareness")["id"]

    response = api.get(f"{BASE}/{campaign_id}")

    data = response.json["data"]
    assert response.status_code == 200
    assert data["id"] == campaign_id
    assert data["goal"] == "awareness"
    assert data["sequence"] == []
    assert set(data["settings"]) >= {"daily_limit", "track_opens", "track_clicks",
                                     "stop_on_reply", "timezone", "schedule", "from_name",
                                     "from_email", "reply_to"}
    assert data["stats"] == {"sent": 0, "opened": 0, "replied": 0, "clicked": 0,
                             "bounced": 0, "unsubscribed": 0}
    assert data["created_at"] == data["updated_at"] == "2025-11-01T10:00:00Z"
    assert data["launched_at"] is None and data["completed_at"] is None
    assert data["allowed_actions"] == []
    assert {b["action"] for b in data["blocked_actions"]} == {"start", "pause", "resume"}


def test_new_campaign_has_default_settings(create_campaign):
    settings = create_campaign()["settings"]
    assert settings == {
        "daily_limit": 50, "track_opens": True, "track_clicks": False,
        "stop_on_reply": True, "timezone": "UTC",
        "schedule": {"days": ["mon", "tue", "wed", "thu", "fri"],
                     "start": "09:00", "end": "17:00"},
        "from_name": None, "from_email": None, "reply_to": None, "mailboxes": [],
    }


# ---- name ---------------------------------------------------------------------------------

def test_name_is_trimmed(create_campaign):
    assert create_campaign(name="  Q4 Outreach \t")["name"] == "Q4 Outreach"


def test_name_of_200_characters_is_accepted(create_campaign):
    assert create_campaign(name="n" * 200)["name"] == "n" * 200


def test_name_is_stored_trimmed(create_campaign):
    assert create_campaign(name="  " + "n" * 196 + "  ")["name"] == "n" * 196


def test_name_of_201_characters_is_422(api, tenant):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": "n" * 201})
    assert_validation_error(response, "name")
    assert count_campaigns() == 0


@pytest.mark.parametrize("name", ["n" * 201, " " + "n" * 200, "n" * 199 + "  "])
def test_a_name_over_200_characters_as_sent_says_so_in_a_sentence(api, tenant, name):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": name})
    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"]["name"] == [
        "Must be at most 200 characters long, as sent."]


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_blank_name_is_422(api, tenant, name):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": name})
    assert_validation_error(response, "name")
    assert count_campaigns() == 0


def test_missing_name_is_422(api, tenant):
    response = api.post(BASE, json={"workspace_slug": tenant.slug})
    assert_validation_error(response, "name")
    assert count_campaigns() == 0


# ---- goal ---------------------------------------------------------------------------------

def test_goal_defaults_to_lead_gen(api, tenant):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": "x"})
    assert response.status_code == 201
    assert response.json["data"]["goal"] == "lead_gen"


@pytest.mark.parametrize("goal", ["awareness", "lead_gen", "sales"])
def test_each_goal_is_accepted(create_campaign, goal):
    assert create_campaign(goal=goal)["goal"] == goal


@pytest.mark.parametrize("goal", ["marketing", "LEAD_GEN", ""])
def test_unknown_goal_is_422(api, tenant, goal):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": "x", "goal": goal})
    assert_validation_error(response, "goal")
    assert count_campaigns() == 0


# ---- ids ----------------------------------------------------------------------------------

def test_id_is_cmp_prefixed(create_campaign):
    campaign_id = create_campaign()["id"]
    assert campaign_id.startswith("cmp_")
    assert len(campaign_id) > len("cmp_") + 10


def test_ids_sort_in_creation_order(create_campaign):
    ids = [create_campaign(name=f"c{i}")["id"] for i in range(10)]
    assert len(set(ids)) == 10
    assert sorted(ids) == ids


# ---- workspace ----------------------------------------------------------------------------

def test_missing_workspace_slug_is_422(api):
    response = api.post(BASE, json={"name": "x"})
    assert_validation_error(response, "workspace_slug")
    assert count_campaigns() == 0


def test_unknown_workspace_is_404(api):
    response = api.post(BASE, json={"workspace_slug": "nowhere", "name": "x"})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "workspace_not_found"
    assert count_campaigns() == 0


def test_other_tenants_workspace_is_404_like_an_unknown_one(api, other_tenant):
    foreign = api.post(BASE, json={"workspace_slug": other_tenant.slug, "name": "x"})
    unknown = api.post(BASE, json={"workspace_slug": "zz-unknown", "name": "x"})
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_data(as_text=True) == \
        unknown.get_data(as_text=True).replace("zz-unknown", other_tenant.slug)
    assert count_campaigns() == 0


# ---- malformed bodies ---------------------------------------------------------------------

def test_unknown_field_is_422(api, tenant):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": "x",
                                    "status": "active"})
    assert_validation_error(response, "status")
    assert response.json["error"]["details"]["fields"]["status"] == ["Not a known field; check its spelling."]
    assert count_campaigns() == 0


@pytest.mark.parametrize("body", ['{"name": ', "{'name': 'x'}", "not json", "[1,"])
def test_invalid_json_is_400(api, body):
    response = api.post(BASE, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "invalid_json"
    assert count_campaigns() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_body_sent_as_another_media_type_is_415(api, tenant, content_type):
    body = f'{{"workspace_slug": "{tenant.slug}", "name": "x"}}'
    response = api.post(BASE, data=body, content_type=content_type)
    assert response.status_code == 415
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "unsupported_media_type"
    assert count_campaigns() == 0


def test_json_body_without_a_content_type_is_415(api, tenant):
    response = api.post(BASE, data=f'{{"workspace_slug": "{tenant.slug}", "name": "x"}}')
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"
    assert count_campaigns() == 0


def test_missing_body_is_415(api):
    response = api.post(BASE)
    assert response.status_code == 415
    assert response.json["success"] is False
    assert count_campaigns() == 0


@pytest.mark.parametrize("body", ["[1, 2]", '"a string"', "42", "null"])
def test_body_that_is_not_an_object_is_422(api, body):
    response = api.post(BASE, data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "validation_error"
    assert count_campaigns() == 0


@pytest.mark.parametrize("field, value", [
    ("name", 5), ("name", ["x"]), ("name", None),
    ("goal", 3), ("goal", None),
    ("workspace_slug", 7), ("workspace_slug", None),
])
def test_wrong_type_is_422(api, tenant, field, value):
    body = {"workspace_slug": tenant.slug, "name": "x", field: value}
    response = api.post(BASE, json=body)
    assert_validation_error(response, field)
    assert count_campaigns() == 0


def test_every_bad_field_is_reported_at_once(api):
    response = api.post(BASE, json={"workspace_slug": 1, "name": "", "goal": "x", "extra": 1})
    assert_validation_error(response, "workspace_slug", "name", "goal", "extra")


def test_name_over_200_characters_only_by_surrounding_spaces_is_422(api, tenant):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": " " + "a" * 200})
    assert response.status_code == 422
    assert "name" in response.json["error"]["details"]["fields"]
