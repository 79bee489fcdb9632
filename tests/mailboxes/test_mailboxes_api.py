"""Mailboxes through HTTP: create, list, read, merge, delete, isolation, secrecy."""
import logging

from app import crypto, database
from app.lifecycle import CampaignStatus
from app.models import Campaign, Mailbox
from tests.mailboxes.conftest import BASE, IMAP, PASSWORD, mailbox_body, stored


def test_create_answers_201_without_passwords(api, tenant):
    response = api.post(BASE, json=mailbox_body(tenant.slug, imap=IMAP))

    assert response.status_code == 201, response.json
    data = response.json["data"]
    assert data["id"].startswith("mbx_")
    assert data["workspace"] == tenant.slug
    assert data["smtp"] == {"host": "smtp.acme.test", "port": 587, "security": "starttls",
                            "username": "ada@acme.test", "has_password": True}
    assert data["imap"]["has_password"] is True and data["imap"]["folder"] == "INBOX"
    assert data["status"] == "active" and data["last_error"] is None
    assert data["sent_today"] == 0 and data["limit_today"] == 10
    assert data["warmup"]["enabled"] is True
    assert PASSWORD not in response.get_data(as_text=True)


def test_imap_is_optional(api, tenant):
    response = api.post(BASE, json=mailbox_body(tenant.slug))
    assert response.status_code == 201
    assert response.json["data"]["imap"] is None


def test_password_is_encrypted_in_the_database_row(api, tenant):
    data = api.post(BASE, json=mailbox_body(tenant.slug, imap=IMAP)).json["data"]

    with database.connection():
        row = database.db.execute_sql("SELECT * FROM mailbox WHERE id = ?".replace(
            "?", "%s" if database.is_postgres() else "?"), (data["id"],)).fetchone()

    text = " ".join(str(v) for v in row)
    assert PASSWORD not in text and IMAP["password"] not in text
    mailbox = stored(data["id"])
    assert crypto.decrypt(mailbox.smtp_password) == PASSWORD
    assert crypto.decrypt(mailbox.imap_password) == IMAP["password"]


def test_password_never_reaches_the_logs(api, tenant, caplog):
    caplog.set_level(logging.DEBUG)
    created = api.post(BASE, json=mailbox_body(tenant.slug, imap=IMAP)).json["data"]
    api.patch(f"{BASE}/{created['id']}", json={"smtp": {"password": "n3w-" + PASSWORD}})
    api.get(f"{BASE}/{created['id']}")

    assert caplog.records
    assert PASSWORD not in caplog.text and IMAP["password"] not in caplog.text


def test_bad_security_and_email_are_422(api, tenant):
    body = mailbox_body(tenant.slug, smtp={"security": "tls"})
    body["email"] = "not an address"

    response = api.post(BASE, json=body)

    assert response.status_code == 422
    fields = response.json["error"]["details"]["fields"]
    assert "security" in fields["smtp"] and "email" in fields
    with database.connection():
        assert Mailbox.select().count() == 0


def test_same_address_twice_in_a_workspace_is_409(api, tenant):
    assert api.post(BASE, json=mailbox_body(tenant.slug)).status_code == 201
    response = api.post(BASE, json=mailbox_body(tenant.slug))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "mailbox_exists"


def test_list_is_paginated_with_total(api, tenant):
    for n in range(3):
        api.post(BASE, json=mailbox_body(tenant.slug, email=f"m{n}@acme.test"))

    response = api.get(f"{BASE}?workspace={tenant.slug}&limit=2&offset=0")

    assert response.status_code == 200
    assert len(response.json["data"]) == 2
    assert response.json["pagination"] == {"total": 3, "limit": 2, "offset": 0,
                                           "has_more": True}
    assert [m["email"] for m in response.json["data"]] == ["m2@acme.test", "m1@acme.test"]


def test_patch_merges_key_by_key_and_keeps_the_password(api, create_mailbox):
    mailbox = create_mailbox(imap=IMAP)
    before = stored(mailbox["id"]).smtp_password

    response = api.patch(f"{BASE}/{mailbox['id']}",
                         json={"smtp": {"port": 2525}, "warmup": {"increment": 7},
                               "imap": {"folder": "Replies"}})

    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert data["smtp"]["port"] == 2525 and data["smtp"]["host"] == "smtp.acme.test"
    assert data["warmup"] == {**mailbox["warmup"], "increment": 7}
    assert data["imap"]["folder"] == "Replies" and data["imap"]["host"] == "imap.acme.test"
    assert stored(mailbox["id"]).smtp_password == before


def test_patch_with_a_password_replaces_it(api, create_mailbox):
    mailbox = create_mailbox()
    api.patch(f"{BASE}/{mailbox['id']}", json={"smtp": {"password": "other-pass"}})
    assert crypto.decrypt(stored(mailbox["id"]).smtp_password) == "other-pass"


def test_adding_imap_needs_every_field(api, create_mailbox):
    mailbox = create_mailbox()
    response = api.patch(f"{BASE}/{mailbox['id']}", json={"imap": {"host": "imap.acme.test"}})
    assert response.status_code == 422
    assert "password" in response.json["error"]["details"]["fields"]["imap"]
    assert stored(mailbox["id"]).imap_host is None


def test_status_error_is_not_for_the_client(api, create_mailbox):
    mailbox = create_mailbox()
    response = api.patch(f"{BASE}/{mailbox['id']}", json={"status": "error"})
    assert response.status_code == 422


def test_resuming_a_mailbox_in_error_clears_the_error(api, create_mailbox):
    mailbox = create_mailbox()
    with database.connection():
        Mailbox.update(status="error", last_error="Login refused.").where(
            Mailbox.id == mailbox["id"]).execute()

    response = api.patch(f"{BASE}/{mailbox['id']}", json={"status": "active"})

    assert response.status_code == 200
    assert response.json["data"]["status"] == "active"
    assert response.json["data"]["last_error"] is None


def test_pause_keeps_the_mailbox(api, create_mailbox):
    mailbox = create_mailbox()
    response = api.patch(f"{BASE}/{mailbox['id']}", json={"status": "paused"})
    assert response.json["data"]["status"] == "paused"
    assert stored(mailbox["id"]).status == "paused"


def test_other_tenants_mailbox_is_404(client, create_mailbox, other_tenant):
    mailbox = create_mailbox()
    url = f"{BASE}/{mailbox['id']}"
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"daily_limit": 5}} if method == "patch" else {}
        response = getattr(client, method)(url, headers=other_tenant.headers, **kwargs)
        assert response.status_code == 404, method
        assert response.json["error"]["code"] == "mailbox_not_found"
    response = client.post(f"{url}/test", headers=other_tenant.headers)
    assert response.status_code == 404
    assert stored(mailbox["id"]).daily_limit == 40


def test_delete_removes_the_mailbox(api, create_mailbox):
    mailbox = create_mailbox()
    response = api.delete(f"{BASE}/{mailbox['id']}")
    assert response.status_code == 200
    assert response.json["data"] == {"id": mailbox["id"], "deleted": True}
    assert api.get(f"{BASE}/{mailbox['id']}").status_code == 404


def _campaign_with_mailboxes(create_campaign, ids, status=CampaignStatus.ACTIVE):
    campaign_id = create_campaign()["id"]
    with database.connection():
        campaign = Campaign.get_by_id(campaign_id)
        campaign.settings = {**campaign.settings, "mailboxes": ids}
        campaign.status = status
        campaign.save()
    return campaign


def test_delete_of_an_active_campaigns_only_mailbox_is_409(api, create_mailbox,
                                                           create_campaign):
    mailbox = create_mailbox()
    campaign = _campaign_with_mailboxes(create_campaign, [mailbox["id"]])

    response = api.delete(f"{BASE}/{mailbox['id']}")

    assert response.status_code == 409
    assert response.json["error"]["code"] == "mailbox_in_use"
    assert response.json["error"]["details"]["campaigns"] == [campaign.id]
    assert stored(mailbox["id"]) is not None


def test_delete_when_the_campaign_has_another_mailbox(api, create_mailbox, create_campaign):
    first = create_mailbox()
    second = create_mailbox(email="grace@acme.test")
    _campaign_with_mailboxes(create_campaign, [first["id"], second["id"]])

    assert api.delete(f"{BASE}/{first['id']}").status_code == 200


def test_delete_when_the_campaign_is_paused(api, create_mailbox, create_campaign):
    mailbox = create_mailbox()
    _campaign_with_mailboxes(create_campaign, [mailbox["id"]], status="paused")
    assert api.delete(f"{BASE}/{mailbox['id']}").status_code == 200
