"""Webhook endpoints through HTTP: create, read, list, change, delete, and who sees what."""
import base64

import pytest

from app.models import Webhook, WebhookDelivery
from tests.webhooks.conftest import URL

HOOK = "https://crm.example.com/hooks"


def test_create_answers_201_with_the_secret_once(api, tenant, create_webhook):
    created = create_webhook(HOOK, events=["lead.replied", "campaign.started"],
                             description="CRM sync")

    assert created["id"].startswith("whk_")
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][len("whsec_"):])) >= 24
    assert created["events"] == ["lead.replied", "campaign.started"]
    assert created["workspace_slug"] == tenant.slug
    assert created["status"] == "enabled"
    assert created["description"] == "CRM sync"
    again = api.get(f"{URL}/{created['id']}")
    assert again.status_code == 200
    assert "secret" not in again.json["data"]
    assert again.json["data"]["url"] == HOOK


def test_events_default_to_every_type(create_webhook):
    assert create_webhook(HOOK)["events"] == ["*"]


def test_secrets_differ_per_webhook(create_webhook):
    assert create_webhook(HOOK)["secret"] != create_webhook(HOOK)["secret"]


def test_unknown_event_type_is_422(api, tenant):
    response = api.post(URL, json={"workspace_slug": tenant.slug, "url": HOOK,
                                   "events": ["lead.exploded"]})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "events" in response.json["error"]["details"]["fields"]
    assert Webhook.select().count() == 0


def test_empty_event_list_is_422(api, tenant):
    response = api.post(URL, json={"workspace_slug": tenant.slug, "url": HOOK, "events": []})
    assert response.status_code == 422


@pytest.mark.parametrize("url", ["ftp://crm.example.com/x", "https://", "not a url",
                                 "https://user:pw@crm.example.com/x"])
def test_bad_url_is_422(api, tenant, url):
    response = api.post(URL, json={"workspace_slug": tenant.slug, "url": url})
    assert response.status_code == 422
    assert "url" in response.json["error"]["details"]["fields"]
    assert Webhook.select().count() == 0


def test_http_url_is_refused_without_the_setting(app, api, tenant):
    app.config["WEBHOOK_ALLOW_HTTP"] = False  # the default

    response = api.post(URL, json={"workspace_slug": tenant.slug,
                                   "url": "http://crm.example.com/hooks"})

    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"]["url"] == ["The URL must use https."]
    assert Webhook.select().count() == 0


def test_http_url_is_allowed_with_the_setting(create_webhook):
    assert create_webhook("http://crm.example.com/hooks")["url"] == "http://crm.example.com/hooks"


def test_unknown_workspace_is_404(api):
    response = api.post(URL, json={"workspace_slug": "nope", "url": HOOK})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "workspace_not_found"


def test_another_tenants_workspace_is_404(api, other_tenant):
    response = api.post(URL, json={"workspace_slug": other_tenant.slug, "url": HOOK})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "workspace_not_found"
    listed = api.get(f"{URL}?workspace={other_tenant.slug}")
    assert listed.status_code == 404
    assert listed.json["error"]["code"] == "workspace_not_found"


def test_list_is_per_workspace_newest_first_with_a_total(api, tenant, create_webhook):
    first, second, third = (create_webhook(f"{HOOK}/{n}") for n in range(3))

    response = api.get(f"{URL}?workspace={tenant.slug}&limit=2")

    assert response.status_code == 200
    assert [w["id"] for w in response.json["data"]] == [third["id"], second["id"]]
    assert response.json["pagination"] == {"total": 3, "limit": 2, "offset": 0,
                                           "has_more": True}
    rest = api.get(f"{URL}?workspace={tenant.slug}&limit=2&offset=2").json
    assert [w["id"] for w in rest["data"]] == [first["id"]]
    assert all("secret" not in w for w in rest["data"])


def test_list_needs_a_workspace(api):
    assert api.get(URL).status_code == 422


def test_patch_changes_url_events_and_description(api, create_webhook):
    hook = create_webhook(HOOK)
    response = api.patch(f"{URL}/{hook['id']}", json={
        "url": "https://other.example.com/in", "events": ["lead.clicked"],
        "description": "new"})
    assert response.status_code == 200
    data = response.json["data"]
    assert (data["url"], data["events"], data["description"]) == (
        "https://other.example.com/in", ["lead.clicked"], "new")
    assert api.get(f"{URL}/{hook['id']}").json["data"]["events"] == ["lead.clicked"]


def test_patch_with_a_bad_url_changes_nothing(api, create_webhook):
    hook = create_webhook(HOOK)
    response = api.patch(f"{URL}/{hook['id']}", json={"url": "ftp://x.example.com",
                                                      "description": "changed"})
    assert response.status_code == 422
    assert api.get(f"{URL}/{hook['id']}").json["data"]["description"] == ""


def test_reenabling_clears_the_failure(api, create_webhook):
    hook = create_webhook(HOOK)
    Webhook.update(status="disabled", disabled_reason="failing",
                   failing_since=Webhook.created_at).where(Webhook.id == hook["id"]).execute()

    response = api.patch(f"{URL}/{hook['id']}", json={"status": "enabled"})

    assert response.status_code == 200
    data = response.json["data"]
    assert (data["status"], data["disabled_reason"], data["failing_since"]) == (
        "enabled", None, None)


def test_disabling_says_why(api, create_webhook):
    hook = create_webhook(HOOK)
    data = api.patch(f"{URL}/{hook['id']}", json={"status": "disabled"}).json["data"]
    assert data["status"] == "disabled"
    assert data["disabled_reason"]


def test_delete_removes_the_webhook_and_its_deliveries(api, create_webhook):
    hook = create_webhook(HOOK)
    api.post(f"{URL}/{hook['id']}/test")

    response = api.delete(f"{URL}/{hook['id']}")

    assert response.status_code == 200
    assert response.json["data"] == {"id": hook["id"], "deleted": True}
    assert api.get(f"{URL}/{hook['id']}").status_code == 404
    assert WebhookDelivery.select().count() == 0


@pytest.mark.parametrize("call", [
    lambda api, id: api.get(f"{URL}/{id}"),
    lambda api, id: api.patch(f"{URL}/{id}", json={"description": "mine now"}),
    lambda api, id: api.delete(f"{URL}/{id}"),
    lambda api, id: api.post(f"{URL}/{id}/test"),
    lambda api, id: api.get(f"{URL}/{id}/deliveries"),
], ids=["get", "patch", "delete", "test", "deliveries"])
def test_another_tenants_webhook_is_404(api, client, other_tenant, call):
    theirs = client.post(URL, headers=other_tenant.headers,
                         json={"workspace_slug": other_tenant.slug, "url": HOOK}).json["data"]

    response = call(api, theirs["id"])

    assert response.status_code == 404
    assert response.json["error"]["code"] == "webhook_not_found"
    stored = Webhook.get_by_id(theirs["id"])
    assert stored.description == ""
    assert WebhookDelivery.select().count() == 0


def test_test_enqueues_one_delivery_for_that_webhook_only(api, create_webhook):
    hook, other = create_webhook(HOOK), create_webhook(HOOK)

    response = api.post(f"{URL}/{hook['id']}/test")

    assert response.status_code == 202
    data = response.json["data"]
    assert (data["type"], data["status"], data["attempts"]) == ("webhook.test", "pending", 0)
    assert data["event_id"].startswith("evt_")
    assert [d["id"] for d in api.get(f"{URL}/{hook['id']}/deliveries").json["data"]] == [
        data["id"]]
    assert api.get(f"{URL}/{other['id']}/deliveries").json["data"] == []


def test_deliveries_page_by_cursor(api, create_webhook):
    hook = create_webhook(HOOK)
    made = [api.post(f"{URL}/{hook['id']}/test").json["data"]["id"] for _ in range(3)]

    page = api.get(f"{URL}/{hook['id']}/deliveries?limit=2").json
    assert [d["id"] for d in page["data"]] == made[::-1][:2]
    assert page["pagination"] == {"limit": 2, "has_more": True,
                                  "next_cursor": made[1]}
    rest = api.get(f"{URL}/{hook['id']}/deliveries?limit=2"
                   f"&starting_after={page['pagination']['next_cursor']}").json
    assert [d["id"] for d in rest["data"]] == [made[0]]
    assert rest["pagination"]["has_more"] is False


def test_deliveries_cursor_of_another_webhook_is_422(api, create_webhook):
    hook, other = create_webhook(HOOK), create_webhook(HOOK)
    theirs = api.post(f"{URL}/{other['id']}/test").json["data"]["id"]
    response = api.get(f"{URL}/{hook['id']}/deliveries?starting_after={theirs}")
    assert response.status_code == 422


def test_retry_of_an_unknown_delivery_is_404(api, create_webhook):
    hook = create_webhook(HOOK)
    response = api.post(f"{URL}/{hook['id']}/deliveries/whd_nope/retry")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "delivery_not_found"


def test_every_webhook_operation_has_its_operation_id(client):
    spec = client.get("/api/v1/openapi.json").json
    ids = {op["operationId"] for path, item in spec["paths"].items()
           if path.startswith(URL) for op in item.values() if "operationId" in op}
    assert ids == {"listWebhooks", "createWebhook", "getWebhook", "updateWebhook",
                   "deleteWebhook", "testWebhook", "listWebhookDeliveries",
                   "retryWebhookDelivery"}


@pytest.mark.parametrize("url", ["https://a..b.example/hook",
                                 "https://" + "a" * 64 + ".example/hook"])
def test_a_host_the_resolver_cannot_take_is_refused_at_create(api, tenant, url):
    response = api.post("/api/v1/tenant/webhooks",
                        json={"workspace_slug": tenant.slug, "url": url, "events": ["*"]})

    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"]["url"] == [
        "The URL's host is not a valid domain name."]
