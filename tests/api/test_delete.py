"""DELETE /api/v1/tenant/campaigns/{id}: allowed unless the campaign is active."""
import pytest

from app import database
from app.models import Campaign, CampaignEvent
from tests.conftest import BASE


def url(campaign_id):
    return f"{BASE}/{campaign_id}"


def exists(campaign_id):
    with database.connection():
        return Campaign.select().where(Campaign.id == campaign_id).exists()


def bring_to(api, campaign_id, status):
    if status in ("active", "paused"):
        assert api.post(f"{url(campaign_id)}/send", json={"action": "start"}).status_code == 200
    if status == "paused":
        assert api.post(f"{url(campaign_id)}/send", json={"action": "pause"}).status_code == 200
    if status == "completed":
        with database.connection():
            Campaign.update(status="completed").where(Campaign.id == campaign_id).execute()


@pytest.mark.parametrize("status", ["draft", "paused", "completed"])
def test_delete_is_200_unless_active(api, ready_campaign, status):
    campaign_id = ready_campaign()["id"]
    bring_to(api, campaign_id, status)

    response = api.delete(url(campaign_id))

    assert response.status_code == 200
    assert response.json == {"success": True, "data": {"id": campaign_id, "deleted": True}}
    assert not exists(campaign_id)


def test_delete_active_is_409_and_keeps_it(api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    bring_to(api, campaign_id, "active")

    response = api.delete(url(campaign_id))

    assert response.status_code == 409
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "campaign_active"
    assert response.json["error"]["details"]["status"] == "active"
    assert "pause" in response.json["error"]["message"]
    assert exists(campaign_id)
    assert api.get(url(campaign_id)).json["data"]["status"] == "active"


def test_get_after_delete_is_404(api, create_campaign):
    campaign_id = create_campaign()["id"]
    assert api.delete(url(campaign_id)).status_code == 200

    response = api.get(url(campaign_id))

    assert response.status_code == 404
    assert response.json["error"]["code"] == "campaign_not_found"


def test_deleted_campaign_leaves_the_list(api, tenant, create_campaign):
    keep = create_campaign(name="Keep")["id"]
    gone = create_campaign(name="Gone")["id"]
    api.delete(url(gone))

    response = api.get(f"{BASE}?workspace={tenant.slug}")

    assert [item["id"] for item in response.json["data"]] == [keep]
    assert response.json["pagination"]["total"] == 1


def test_second_delete_is_404(api, create_campaign):
    campaign_id = create_campaign()["id"]
    api.delete(url(campaign_id))
    response = api.delete(url(campaign_id))
    assert response.status_code == 404


def test_delete_removes_the_event_log(api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    bring_to(api, campaign_id, "paused")

    assert api.delete(url(campaign_id)).status_code == 200

    with database.connection():
        assert not CampaignEvent.select().where(CampaignEvent.campaign == campaign_id).exists()


def test_delete_of_other_tenants_campaign_is_404_and_it_still_exists(api, client,
                                                                       other_tenant):
    theirs = client.post(BASE, headers=other_tenant.headers,
                         json={"workspace_slug": other_tenant.slug, "name": "Theirs"})
    campaign_id = theirs.json["data"]["id"]

    response = api.delete(url(campaign_id))

    assert response.status_code == 404
    assert response.json["error"]["code"] == "campaign_not_found"
    assert exists(campaign_id)
    assert client.get(url(campaign_id), headers=other_tenant.headers).status_code == 200


def test_delete_with_stale_if_match_is_412_and_keeps_it(api, create_campaign):
    campaign_id = create_campaign()["id"]
    api.patch(url(campaign_id), json={"name": "v2"})

    response = api.delete(url(campaign_id), headers={"If-Match": '"v1"'})

    assert response.status_code == 412
    assert response.json["error"]["code"] == "precondition_failed"
    assert exists(campaign_id)


def test_delete_with_current_if_match_deletes(api, create_campaign):
    campaign_id = create_campaign()["id"]
    etag = api.get(url(campaign_id)).headers["ETag"]
    response = api.delete(url(campaign_id), headers={"If-Match": etag})
    assert response.status_code == 200
    assert not exists(campaign_id)
