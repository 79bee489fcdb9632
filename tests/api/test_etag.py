"""ETag on every single-campaign answer; If-Match on PATCH, DELETE and /send (412 when stale)."""
import pytest

from app import database
from app.models import Campaign, CampaignEvent
from tests.conftest import BASE


def url(campaign_id):
    return f"{BASE}/{campaign_id}"


def row(campaign_id):
    """The campaign as stored (None when gone)."""
    with database.connection():
        return Campaign.select().where(Campaign.id == campaign_id).dicts().first()


def events_of(campaign_id):
    with database.connection():
        return CampaignEvent.select().where(CampaignEvent.campaign == campaign_id).count()


def assert_etag_matches_body(response):
    assert response.headers["ETag"] == f'"v{response.json["data"]["version"]}"'


def assert_412_unchanged(response, campaign_id, before):
    assert response.status_code == 412
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "precondition_failed"
    assert response.json["error"]["details"] == {"current_version": before["version"]}
    assert "ETag" not in response.headers
    assert row(campaign_id) == before


@pytest.fixture
def stale(api, ready_campaign):
    """A startable campaign changed since its ETag was read: (id, stale ETag, stored row)."""
    campaign_id = ready_campaign()["id"]
    etag = api.get(url(campaign_id)).headers["ETag"]
    assert api.patch(url(campaign_id), json={"name": "Changed meanwhile"}).status_code == 200
    return campaign_id, etag, row(campaign_id)


# ---- ETag on every single-campaign answer -----------------------------------------------

def test_get_has_an_etag_of_the_version(api, create_campaign):
    response = api.get(url(create_campaign()["id"]))

    assert response.status_code == 200
    assert response.headers["ETag"] == '"v1"'
    assert_etag_matches_body(response)


def test_create_has_an_etag(api, tenant):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": "New"})

    assert response.status_code == 201
    assert response.headers["ETag"] == '"v1"'
    assert_etag_matches_body(response)


def test_patch_answers_with_the_new_etag(api, create_campaign):
    campaign_id = create_campaign()["id"]

    response = api.patch(url(campaign_id), json={"name": "Renamed"})

    assert response.status_code == 200
    assert response.headers["ETag"] == '"v2"'
    assert_etag_matches_body(response)
    assert api.get(url(campaign_id)).headers["ETag"] == '"v2"'


def test_send_answers_with_the_new_etag(api, ready_campaign):
    campaign = ready_campaign()

    response = api.post(f"{url(campaign['id'])}/send", json={"action": "start"})

    assert response.status_code == 200
    assert response.headers["ETag"] == f'"v{campaign["version"] + 1}"'
    assert_etag_matches_body(response)


def test_a_no_op_send_keeps_the_etag(api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    started = api.post(f"{url(campaign_id)}/send", json={"action": "start"})

    again = api.post(f"{url(campaign_id)}/send", json={"action": "start"})

    assert again.status_code == 200
    assert again.headers["ETag"] == started.headers["ETag"]


def test_an_error_answer_has_no_etag(api, create_campaign):
    campaign_id = create_campaign()["id"]

    response = api.patch(url(campaign_id), json={"name": ""})

    assert response.status_code == 422
    assert "ETag" not in response.headers


# ---- stale If-Match: 412 and nothing changes ---------------------------------------------

def test_stale_if_match_on_patch_is_412_and_changes_nothing(api, stale):
    campaign_id, etag, before = stale

    response = api.patch(url(campaign_id), json={"name": "Mine"}, headers={"If-Match": etag})

    assert_412_unchanged(response, campaign_id, before)


def test_stale_if_match_on_delete_is_412_and_deletes_nothing(api, stale):
    campaign_id, etag, before = stale

    response = api.delete(url(campaign_id), headers={"If-Match": etag})

    assert_412_unchanged(response, campaign_id, before)


def test_stale_if_match_on_send_is_412_and_starts_nothing(api, stale):
    campaign_id, etag, before = stale

    response = api.post(f"{url(campaign_id)}/send", json={"action": "start"},
                        headers={"If-Match": etag})

    assert_412_unchanged(response, campaign_id, before)
    assert before["status"] == "draft"
    assert events_of(campaign_id) == 0


def test_if_match_naming_no_version_of_ours_is_412(api, create_campaign):
    campaign_id = create_campaign()["id"]
    before = row(campaign_id)

    response = api.patch(url(campaign_id), json={"name": "Mine"},
                         headers={"If-Match": '"not-an-etag"'})

    assert_412_unchanged(response, campaign_id, before)


def test_if_match_on_a_missing_campaign_is_404_not_412(api):
    response = api.patch(url("cmp_01jd3v0m4h8x3q2w9e7r6t5y4u"), json={"name": "Mine"},
                         headers={"If-Match": '"v1"'})

    assert response.status_code == 404
    assert response.json["error"]["code"] == "campaign_not_found"


# ---- a matching If-Match (or *) goes through ---------------------------------------------

def test_matching_if_match_on_patch_succeeds(api, create_campaign):
    campaign_id = create_campaign()["id"]
    etag = api.get(url(campaign_id)).headers["ETag"]

    response = api.patch(url(campaign_id), json={"name": "Mine"}, headers={"If-Match": etag})

    assert response.status_code == 200
    assert row(campaign_id)["name"] == "Mine"
    assert response.headers["ETag"] != etag


def test_matching_if_match_on_delete_succeeds(api, create_campaign):
    campaign_id = create_campaign()["id"]
    etag = api.get(url(campaign_id)).headers["ETag"]

    response = api.delete(url(campaign_id), headers={"If-Match": etag})

    assert response.status_code == 200
    assert response.json["data"] == {"id": campaign_id, "deleted": True}
    assert row(campaign_id) is None


def test_matching_if_match_on_send_succeeds(api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    etag = api.get(url(campaign_id)).headers["ETag"]

    response = api.post(f"{url(campaign_id)}/send", json={"action": "start"},
                        headers={"If-Match": etag})

    assert response.status_code == 200
    assert row(campaign_id)["status"] == "active"
    assert events_of(campaign_id) == 1


def test_etag_from_a_patch_answer_is_good_for_the_next_patch(api, create_campaign):
    campaign_id = create_campaign()["id"]
    first = api.patch(url(campaign_id), json={"name": "One"})

    second = api.patch(url(campaign_id), json={"name": "Two"},
                       headers={"If-Match": first.headers["ETag"]})

    assert second.status_code == 200
    assert row(campaign_id)["name"] == "Two"


def test_one_matching_tag_in_a_list_succeeds(api, create_campaign):
    campaign_id = create_campaign()["id"]

    response = api.patch(url(campaign_id), json={"name": "Mine"},
                         headers={"If-Match": '"v7", "v1"'})

    assert response.status_code == 200
    assert row(campaign_id)["name"] == "Mine"


@pytest.mark.parametrize("header", ['W/"v1"', "v1", 'W/"v1", W/"v2"', '""'])
def test_weak_or_unquoted_if_match_is_412_saying_a_strong_etag_is_needed(
        api, create_campaign, header):
    campaign_id = create_campaign()["id"]
    before = row(campaign_id)

    response = api.patch(url(campaign_id), json={"name": "Mine"}, headers={"If-Match": header})

    assert response.status_code == 412
    assert response.json["error"]["code"] == "precondition_failed"
    assert response.json["error"]["message"] == 'If-Match must be a strong ETag such as "v3".'
    assert row(campaign_id) == before


@pytest.mark.parametrize("header", ['"v\u0663"', '"v' + "9" * 5000 + '"', '"v\u00b2"'])
def test_if_match_with_non_ascii_digits_or_a_huge_version_is_412_not_500(
        api, create_campaign, header):
    campaign_id = create_campaign()["id"]
    before = row(campaign_id)

    response = api.patch(url(campaign_id), json={"name": "Mine"},
                         headers={"If-Match": header.encode().decode("unicode_escape")
                                  .encode("utf-8").decode("latin-1")})

    assert_412_unchanged(response, campaign_id, before)


def test_if_match_star_on_patch_succeeds(api, stale):
    campaign_id, _etag, _before = stale

    response = api.patch(url(campaign_id), json={"name": "Mine"}, headers={"If-Match": "*"})

    assert response.status_code == 200
    assert row(campaign_id)["name"] == "Mine"


def test_if_match_star_on_delete_succeeds(api, stale):
    campaign_id, _etag, _before = stale

    response = api.delete(url(campaign_id), headers={"If-Match": "*"})

    assert response.status_code == 200
    assert row(campaign_id) is None


def test_if_match_star_on_send_succeeds(api, stale):
    campaign_id, _etag, _before = stale

    response = api.post(f"{url(campaign_id)}/send", json={"action": "start"},
                        headers={"If-Match": "*"})

    assert response.status_code == 200
    assert row(campaign_id)["status"] == "active"
    assert events_of(campaign_id) == 1
