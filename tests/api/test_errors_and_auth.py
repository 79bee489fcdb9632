"""API keys, tenant isolation and the error envelope on every kind of failure."""
import hashlib
import logging

import pytest

from app import database
from app.models import CampaignEvent, new_id
from app.services import campaigns as campaign_service
from app.services import tenants as tenant_service
from tests.conftest import BASE, SENDER, STEP

ENVELOPE_KEYS = {"success", "error"}
ERROR_KEYS = {"code", "message", "details"}


def assert_envelope(response, status, code):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == ENVELOPE_KEYS
    assert body["success"] is False
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def item(campaign_id):
    return f"{BASE}/{campaign_id}"


# Every route of the API, as (method, path template, JSON body).
ROUTES = [
    ("get", BASE + "?workspace={slug}", None),
    ("post", BASE, {"workspace_slug": "{slug}", "name": "x"}),
    ("get", BASE + "/{id}", None),
    ("patch", BASE + "/{id}", {"name": "Hijacked"}),
    ("delete", BASE + "/{id}", None),
    ("post", BASE + "/{id}/send", {"action": "start"}),
]
ITEM_ROUTES = [route for route in ROUTES if "{id}" in route[1]]


def fill(route, campaign_id, slug):
    method, path, body = route
    if body is not None:
        body = {k: v.format(slug=slug) for k, v in body.items()}
    return method, path.format(id=campaign_id, slug=slug), body


def route_id(route):
    return f"{route[0].upper()} {route[1].removeprefix(BASE) or '/'}"


# ---- authentication ------------------------------------------------------------------

@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_no_key_is_401_on_every_route(client, tenant, create_campaign, route):
    campaign = create_campaign()
    method, path, body = fill(route, campaign["id"], tenant.slug)

    response = getattr(client, method)(path, json=body)

    assert_envelope(response, 401, "unauthorized")
    after = client.get(item(campaign["id"]), headers=tenant.headers).json["data"]
    assert after == campaign
    listed = client.get(f"{BASE}?workspace={tenant.slug}", headers=tenant.headers)
    assert listed.json["pagination"]["total"] == 1


@pytest.mark.parametrize("header", [
    "Bearer sk_live_not-a-real-key",
    "Bearer",
    "Bearer    ",
    "Basic dXNlcjpwYXNz",
    "bearer-sk_live_x",
    "Bearer " + "x" * 500,
])
def test_bad_or_malformed_authorization_is_401(client, tenant, header):
    response = client.get(f"{BASE}?workspace={tenant.slug}", headers={"Authorization": header})
    error = assert_envelope(response, 401, "unauthorized")
    assert "Bearer" in error["message"]


def test_valid_secret_under_another_scheme_is_401(client, tenant):
    response = client.get(f"{BASE}?workspace={tenant.slug}",
                          headers={"Authorization": f"Token {tenant.secret}"})
    assert_envelope(response, 401, "unauthorized")


def test_valid_secret_without_a_scheme_is_401(client, tenant):
    response = client.get(f"{BASE}?workspace={tenant.slug}",
                          headers={"Authorization": tenant.secret})
    assert_envelope(response, 401, "unauthorized")


def test_bearer_scheme_is_case_insensitive(client, tenant):
    response = client.get(f"{BASE}?workspace={tenant.slug}",
                          headers={"Authorization": f"bearer {tenant.secret}"})
    assert response.status_code == 200


def test_revoked_key_fails_on_the_next_request(client, tenant):
    url = f"{BASE}?workspace={tenant.slug}"
    assert client.get(url, headers=tenant.headers).status_code == 200

    with database.connection():
        tenant_service.revoke_key(tenant.key.id)

    assert_envelope(client.get(url, headers=tenant.headers), 401, "unauthorized")


def test_revoking_one_key_leaves_the_tenants_other_keys_working(client, tenant):
    with database.connection():
        _key, other_secret = tenant_service.create_key(tenant.model.id, name="second")
        tenant_service.revoke_key(tenant.key.id)

    response = client.get(f"{BASE}?workspace={tenant.slug}",
                          headers={"Authorization": f"Bearer {other_secret}"})
    assert response.status_code == 200


def test_api_keys_are_stored_hashed(tenant):
    with database.connection():
        rows = database.db.execute_sql("SELECT key_hash, prefix FROM api_key").fetchall()
        everything = [value for table in database.db.get_tables()
                      for row in database.db.execute_sql(f'SELECT * FROM "{table}"').fetchall()
                      for value in row]
    assert rows == [(hashlib.sha256(tenant.secret.encode()).hexdigest(), tenant.secret[:12])]
    assert not any(tenant.secret in str(value) for value in everything)


# ---- tenant isolation -----------------------------------------------------------------

@pytest.fixture
def theirs(client, other_tenant):
    """Another tenant's campaign, ready to start (so a leaked 'start' would show)."""
    created = client.post(BASE, headers=other_tenant.headers,
                          json={"workspace_slug": other_tenant.slug, "name": "Theirs"})
    campaign_id = created.json["data"]["id"]
    patched = client.patch(item(campaign_id), headers=other_tenant.headers,
                           json={"sequence": [STEP], "settings": SENDER})
    assert patched.status_code == 200
    leads = client.post(f"{item(campaign_id)}/leads", headers=other_tenant.headers,
                        json={"leads": [{"email": "lead@example.com"}]})
    assert leads.status_code == 200
    detail = client.get(item(campaign_id), headers=other_tenant.headers).json["data"]
    assert detail["allowed_actions"] == ["start"]
    return detail


@pytest.mark.parametrize("route", ITEM_ROUTES, ids=route_id)
def test_other_tenants_campaign_is_404_like_a_missing_one(api, client, other_tenant, theirs,
                                                          route):
    missing_id = new_id("cmp")
    method, path, body = fill(route, theirs["id"], other_tenant.slug)
    _, missing_path, _ = fill(route, missing_id, other_tenant.slug)

    foreign = getattr(api, method)(path, json=body)
    missing = getattr(api, method)(missing_path, json=body)

    assert_envelope(foreign, 404, "campaign_not_found")
    assert foreign.status_code == missing.status_code
    assert foreign.get_data(as_text=True) == \
        missing.get_data(as_text=True).replace(missing_id, theirs["id"])
    assert "ETag" not in foreign.headers
    after = client.get(item(theirs["id"]), headers=other_tenant.headers).json["data"]
    assert after == theirs
    with database.connection():
        assert CampaignEvent.select().where(CampaignEvent.campaign == theirs["id"]).count() == 0


def test_other_tenants_campaign_is_not_in_my_lists(api, tenant, theirs):
    response = api.get(f"{BASE}?workspace={tenant.slug}")
    assert response.status_code == 200
    assert theirs["id"] not in {c["id"] for c in response.json["data"]}


# ---- the envelope for framework errors ----------------------------------------------------

def test_unknown_route_is_404_envelope(api):
    error = assert_envelope(api.get("/api/v1/nowhere"), 404, "not_found")
    assert "/api/v1/nowhere" in error["message"]


def test_unknown_route_without_a_key_is_404_envelope(client):
    assert_envelope(client.get(f"{BASE}/cmp_x/nowhere"), 404, "not_found")


@pytest.mark.parametrize("method, path, allowed", [
    ("put", BASE + "/cmp_x", {"GET", "PATCH", "DELETE"}),
    ("delete", BASE, {"GET", "POST"}),
    ("get", BASE + "/cmp_x/send", {"POST"}),
])
def test_method_not_allowed_is_405_with_allow_header(api, method, path, allowed):
    response = getattr(api, method)(path)
    error = assert_envelope(response, 405, "method_not_allowed")
    listed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= listed
    assert set(error["details"]["allowed_methods"]) == listed


def test_body_over_the_size_limit_is_413_envelope(api, tenant):
    name = "x" * (1024 * 1024)
    body = f'{{"workspace_slug": "{tenant.slug}", "name": "{name}"}}'
    response = api.post(BASE, data=body, content_type="application/json")
    error = assert_envelope(response, 413, "payload_too_large")
    assert error["details"]["max_bytes"] == 1024 * 1024


def test_validation_error_is_422_envelope(api):
    error = assert_envelope(api.get(BASE), 422, "validation_error")
    assert "workspace" in error["details"]["fields"]


def test_invalid_json_is_400_envelope(api):
    assert_envelope(api.post(BASE, data="{", content_type="application/json"), 400,
                    "invalid_json")


def test_unexpected_exception_is_500_envelope_without_traceback(api, create_campaign,
                                                                 monkeypatch, caplog):
    campaign_id = create_campaign()["id"]

    def explode(*args, **kwargs):
        raise RuntimeError("internal detail: password=hunter2")

    monkeypatch.setattr(campaign_service, "get_campaign", explode)
    with caplog.at_level(logging.ERROR, logger="app.api"):
        response = api.get(item(campaign_id))

    error = assert_envelope(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert error["details"] == {}
    # The traceback goes to the log instead, where an operator can find it.
    [record] = [r for r in caplog.records if r.name == "app.api"]
    assert record.exc_info and record.exc_info[0] is RuntimeError
