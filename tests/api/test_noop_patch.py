"""A PATCH whose result equals the stored campaign writes nothing: 200, same version, same ETag."""
import pytest

from app import database
from app.models import Campaign
from tests.conftest import BASE, STEP


def url(campaign_id):
    return f"{BASE}/{campaign_id}"


def row(campaign_id):
    with database.connection():
        return Campaign.select().where(Campaign.id == campaign_id).dicts().first()


@pytest.fixture
def configured(api, ready_campaign):
    """A draft with a sequence, settings and a schedule: (id, its ETag, the stored row)."""
    campaign_id = ready_campaign()["id"]
    response = api.patch(url(campaign_id), json={"settings": {
        "daily_limit": 50, "schedule": {"days": ["mon", "tue"], "start": "09:00",
                                        "end": "17:00"}}})
    assert response.status_code == 200, response.json
    return campaign_id, response.headers["ETag"], row(campaign_id)


def same_as_stored(stored):
    return {"name": stored["name"], "goal": stored["goal"], "sequence": [STEP],
            "settings": {"daily_limit": 50, "schedule": {"start": "09:00"}}}


@pytest.mark.parametrize("field", ["name", "goal", "sequence", "settings", "all"])
def test_a_patch_that_changes_nothing_keeps_the_version_and_the_etag(api, configured, field):
    campaign_id, etag, before = configured
    unchanged = same_as_stored(before)
    body = unchanged if field == "all" else {field: unchanged[field]}

    response = api.patch(url(campaign_id), json=body)

    assert response.status_code == 200, response.json
    assert response.json["data"]["version"] == before["version"]
    assert response.headers["ETag"] == etag
    assert row(campaign_id) == before  # updated_at included: nothing was written


def test_a_name_that_trims_to_the_stored_one_changes_nothing(api, configured):
    campaign_id, etag, before = configured
    response = api.patch(url(campaign_id), json={"name": f"  {before['name']} "})
    assert response.status_code == 200
    assert response.headers["ETag"] == etag
    assert row(campaign_id) == before


def test_a_patch_that_changes_one_of_several_fields_bumps_the_version_once(api, configured):
    campaign_id, etag, before = configured
    body = {**same_as_stored(before), "settings": {"daily_limit": 51}}

    response = api.patch(url(campaign_id), json=body)

    assert response.status_code == 200
    assert response.json["data"]["version"] == before["version"] + 1
    assert response.headers["ETag"] != etag
    assert row(campaign_id)["settings"]["daily_limit"] == 51


def test_a_stale_if_match_on_a_no_op_patch_is_still_412(api, configured):
    campaign_id, _etag, before = configured
    stale = f'"v{before["version"] - 1}"'

    response = api.patch(url(campaign_id), json={"name": before["name"]},
                         headers={"If-Match": stale})

    assert response.status_code == 412
    assert response.json["error"]["details"] == {"current_version": before["version"]}
    assert row(campaign_id) == before


def test_a_matching_if_match_on_a_no_op_patch_is_200_with_the_same_etag(api, configured):
    campaign_id, etag, before = configured
    response = api.patch(url(campaign_id), json={"name": before["name"]},
                         headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] == etag
    assert row(campaign_id) == before


def test_a_no_op_patch_that_breaks_a_rule_is_still_refused(api, configured):
    """The schedule check runs on the merged settings whether or not they changed."""
    campaign_id, _etag, before = configured
    response = api.patch(url(campaign_id), json={"settings": {"schedule": {"end": "08:00"}}})
    assert response.status_code == 422
    assert row(campaign_id) == before
