"""GET /api/v1/tenant/campaigns: workspace scoping, filters, paging and order."""
import datetime as dt

import pytest

from app import clock, database
from app.models import Campaign
from tests.conftest import BASE

T0 = dt.datetime(2025, 11, 1, 10, 0, 0)


def list_url(workspace="acme-corp", **params):
    query = "&".join(f"{k}={v}" for k, v in {"workspace": workspace, **params}.items())
    return f"{BASE}?{query}"


def names(response):
    return [item["name"] for item in response.json["data"]]


def assert_validation_error(response, field):
    assert response.status_code == 422
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "validation_error"
    assert field in response.json["error"]["details"]["fields"]


def set_status(campaign_id, status):
    with database.connection():
        Campaign.update(status=status).where(Campaign.id == campaign_id).execute()


# ---- the workspace --------------------------------------------------------------------

def test_workspace_is_required(api, create_campaign):
    create_campaign()
    response = api.get(BASE)
    assert_validation_error(response, "workspace")


def test_empty_workspace_is_422(api):
    response = api.get(f"{BASE}?workspace=")
    assert_validation_error(response, "workspace")


def test_lists_only_the_named_workspace(api, tenant, create_campaign):
    from app.services import tenants
    with database.connection():
        tenants.create_workspace(tenant.model.id, slug="acme-side")
    create_campaign(name="Main")
    create_campaign(name="Side", workspace_slug="acme-side")

    main = api.get(list_url())
    side = api.get(list_url("acme-side"))

    assert main.status_code == side.status_code == 200
    assert names(main) == ["Main"]
    assert names(side) == ["Side"]


def test_unknown_workspace_is_404(api, create_campaign):
    create_campaign()
    response = api.get(list_url("no-such-workspace"))
    assert response.status_code == 404
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "workspace_not_found"


def test_other_tenants_workspace_is_404_like_an_unknown_one(api, client, other_tenant):
    theirs = client.post(BASE, headers=other_tenant.headers,
                         json={"workspace_slug": other_tenant.slug, "name": "Secret"})
    assert theirs.status_code == 201

    foreign = api.get(list_url(other_tenant.slug))
    unknown = api.get(list_url("zz-unknown"))

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_data(as_text=True) == \
        unknown.get_data(as_text=True).replace("zz-unknown", other_tenant.slug)
    assert "Secret" not in foreign.get_data(as_text=True)


# ---- the status filter ------------------------------------------------------------------

@pytest.mark.parametrize("status", ["draft", "active", "paused", "completed"])
def test_status_filter_returns_only_that_status(api, create_campaign, status):
    ids = {s: create_campaign(name=s)["id"] for s in ("draft", "active", "paused", "completed")}
    for name, campaign_id in ids.items():
        set_status(campaign_id, name)

    response = api.get(list_url(status=status))

    assert response.status_code == 200
    assert [item["id"] for item in response.json["data"]] == [ids[status]]
    assert response.json["data"][0]["status"] == status
    assert response.json["pagination"]["total"] == 1


def test_unknown_status_is_422(api):
    response = api.get(list_url(status="archived"))
    assert_validation_error(response, "status")


def test_without_status_every_status_is_listed(api, create_campaign):
    for status in ("draft", "active", "paused", "completed"):
        set_status(create_campaign(name=status)["id"], status)
    response = api.get(list_url())
    assert response.status_code == 200
    assert sorted(item["status"] for item in response.json["data"]) == \
        ["active", "completed", "draft", "paused"]


# ---- limit and offset -------------------------------------------------------------------

def test_limit_defaults_to_20(api, create_campaign):
    for i in range(21):
        create_campaign(name=f"c{i}")
    response = api.get(list_url())
    assert response.status_code == 200
    assert len(response.json["data"]) == 20
    assert response.json["pagination"] == {"total": 21, "limit": 20, "offset": 0,
                                           "has_more": True}


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_bounds_are_accepted(api, create_campaign, limit):
    create_campaign()
    response = api.get(list_url(limit=limit))
    assert response.status_code == 200
    assert response.json["pagination"]["limit"] == int(limit)
    assert len(response.json["data"]) == 1


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", ""])
def test_bad_limit_is_422(api, limit):
    response = api.get(list_url(limit=limit))
    assert_validation_error(response, "limit")


@pytest.mark.parametrize("offset", ["-1", "abc", "2.5", ""])
def test_bad_offset_is_422(api, offset):
    response = api.get(list_url(offset=offset))
    assert_validation_error(response, "offset")


def test_every_bad_parameter_is_reported_at_once(api):
    response = api.get(list_url(status="nope", limit="0", offset="-1"))
    assert response.status_code == 422
    assert set(response.json["error"]["details"]["fields"]) == {"status", "limit", "offset"}


def test_offset_defaults_to_0(api, create_campaign):
    create_campaign()
    response = api.get(list_url())
    assert response.json["pagination"]["offset"] == 0
    assert len(response.json["data"]) == 1


def test_offset_past_the_end_is_an_empty_page(api, create_campaign):
    create_campaign()
    response = api.get(list_url(offset="5"))
    assert response.status_code == 200
    assert response.json["data"] == []
    assert response.json["pagination"] == {"total": 1, "limit": 20, "offset": 5,
                                           "has_more": False}


def test_pages_walk_the_whole_list_without_gaps_or_repeats(api, create_campaign):
    created = [create_campaign(name=f"c{i}")["id"] for i in range(5)]
    seen = []
    pages = []
    for offset in (0, 2, 4):
        response = api.get(list_url(limit="2", offset=str(offset)))
        assert response.status_code == 200
        seen += [item["id"] for item in response.json["data"]]
        pages.append(response.json["pagination"])
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen)) == 5
    assert pages == [
        {"total": 5, "limit": 2, "offset": 0, "has_more": True},
        {"total": 5, "limit": 2, "offset": 2, "has_more": True},
        {"total": 5, "limit": 2, "offset": 4, "has_more": False},
    ]


def test_has_more_is_false_on_an_exact_last_page(api, create_campaign):
    for i in range(4):
        create_campaign(name=f"c{i}")
    response = api.get(list_url(limit="2", offset="2"))
    assert len(response.json["data"]) == 2
    assert response.json["pagination"]["has_more"] is False


def test_total_counts_the_filtered_set_not_the_page(api, create_campaign):
    for i in range(3):
        create_campaign(name=f"d{i}")
    set_status(create_campaign(name="live")["id"], "active")
    response = api.get(list_url(status="draft", limit="1"))
    assert response.json["pagination"] == {"total": 3, "limit": 1, "offset": 0,
                                           "has_more": True}


# ---- order --------------------------------------------------------------------------------

def test_newest_first_by_creation_time(api, create_campaign):
    clock.freeze(T0)
    create_campaign(name="middle")
    clock.freeze(T0 + dt.timedelta(hours=1))
    create_campaign(name="newest")
    # Created last, but dated earliest: order follows created_at, not insertion.
    clock.freeze(T0 - dt.timedelta(hours=1))
    create_campaign(name="oldest")

    response = api.get(list_url())
    assert response.status_code == 200
    assert names(response) == ["newest", "middle", "oldest"]


def test_equal_creation_times_are_ordered_newest_id_first(api, create_campaign):
    clock.freeze(T0)
    created = [create_campaign(name=f"same{i}")["id"] for i in range(4)]

    response = api.get(list_url())
    listed = [item["id"] for item in response.json["data"]]
    assert listed == list(reversed(created))
    assert {item["created_at"] for item in response.json["data"]} == {"2025-11-01T10:00:00Z"}


@pytest.mark.parametrize("at", [T0 + dt.timedelta(microseconds=999_999),
                                T0 + dt.timedelta(seconds=59, microseconds=1),
                                dt.datetime(2024, 2, 29, 23, 59, 59, 500_000)])
def test_listed_timestamps_read_as_the_campaigns_own(api, create_campaign, at):
    """The list's timestamps are formatted by the database, the campaign's in Python:
    the same text, cut (not rounded) to the second."""
    clock.freeze(at)
    created = create_campaign(name="stamped")
    clock.freeze(at + dt.timedelta(days=1, microseconds=123))
    assert api.patch(f"{BASE}/{created['id']}", json={"name": "renamed"}).status_code == 200

    detail = api.get(f"{BASE}/{created['id']}").json["data"]
    [listed] = api.get(list_url()).json["data"]
    stamps = ("created_at", "updated_at")
    assert {k: listed[k] for k in stamps} == {k: detail[k] for k in stamps}
    assert listed["created_at"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_equal_creation_times_page_without_gaps_or_repeats(api, create_campaign):
    clock.freeze(T0)
    created = [create_campaign(name=f"same{i}")["id"] for i in range(4)]

    one_by_one = []
    for offset in range(4):
        response = api.get(list_url(limit="1", offset=str(offset)))
        one_by_one += [item["id"] for item in response.json["data"]]
    assert one_by_one == list(reversed(created))


# ---- the items ----------------------------------------------------------------------------

def test_items_carry_id_name_status_stats_and_created_at(api, create_campaign):
    clock.freeze(T0)
    created = create_campaign(name="Q4 Outreach")
    response = api.get(list_url())
    item = response.json["data"][0]
    assert response.json["success"] is True
    assert item["id"] == created["id"]
    assert item["name"] == "Q4 Outreach"
    assert item["status"] == "draft"
    assert item["created_at"] == "2025-11-01T10:00:00Z"
    assert item["stats"]["sent"] == item["stats"]["opened"] == item["stats"]["replied"] == 0


def test_stats_come_from_the_campaign_counters(api, create_campaign):
    campaign_id = create_campaign()["id"]
    with database.connection():
        (Campaign.update(sent_count=150, opened_count=45, replied_count=12)
         .where(Campaign.id == campaign_id).execute())
    response = api.get(list_url())
    stats = response.json["data"][0]["stats"]
    assert (stats["sent"], stats["opened"], stats["replied"]) == (150, 45, 12)


def test_empty_workspace_lists_nothing(api):
    response = api.get(list_url())
    assert response.status_code == 200
    assert response.json == {"success": True, "data": [],
                             "pagination": {"total": 0, "limit": 20, "offset": 0,
                                            "has_more": False}}


def test_unknown_query_parameter_is_422_naming_it(api, tenant):
    response = api.get(f"{BASE}?workspace={tenant.slug}&statuss=active")
    assert response.status_code == 422
    assert response.json["success"] is False
    assert "statuss" in response.json["error"]["details"]["fields"]


# ---- cursor pagination ----------------------------------------------------------------

def test_starting_after_walks_every_campaign_once_in_order(api, create_campaign):
    clock.freeze(T0)
    ids = []
    for i in range(7):
        ids.append(create_campaign(name=f"c{i}")["id"])
        if i % 2:
            clock.advance(seconds=1)  # some share a created_at: the id breaks the tie
    seen, cursor = [], None
    for _ in range(10):
        url = list_url(limit=3) + (f"&starting_after={cursor}" if cursor else "")
        body = api.get(url).json
        seen += [item["id"] for item in body["data"]]
        assert body["pagination"]["total"] == 7
        if not body["pagination"]["has_more"]:
            break
        cursor = body["data"][-1]["id"]
    newest_first = [item["id"] for item in api.get(list_url(limit=100)).json["data"]]
    assert seen == newest_first
    assert sorted(seen) == sorted(ids)


def test_starting_after_with_a_status_filter_stays_in_that_status(api, create_campaign):
    clock.freeze(T0)
    drafts = []
    for i in range(4):
        campaign = create_campaign(name=f"c{i}")
        clock.advance(seconds=1)
        if i % 2:
            set_status(campaign["id"], "paused")
        else:
            drafts.append(campaign["id"])
    response = api.get(list_url(status="draft", limit=1))
    assert response.json["pagination"] == {"total": 2, "limit": 1, "offset": 0, "has_more": True}
    cursor = response.json["data"][0]["id"]
    second = api.get(list_url(status="draft", limit=1, starting_after=cursor)).json
    assert [item["id"] for item in second["data"]] == [drafts[0]]
    assert second["pagination"]["has_more"] is False


def test_starting_after_an_unknown_campaign_is_422(api, create_campaign):
    create_campaign()
    assert_validation_error(api.get(list_url(starting_after="cmp_nope")), "starting_after")


def test_starting_after_a_campaign_of_another_workspace_is_422(api, client, other_tenant):
    theirs = client.post(BASE, json={"workspace_slug": other_tenant.slug, "name": "x"},
                         headers=other_tenant.headers).json["data"]["id"]
    assert_validation_error(api.get(list_url(starting_after=theirs)), "starting_after")


def test_starting_after_together_with_offset_is_422(api, create_campaign):
    campaign = create_campaign()
    assert_validation_error(api.get(list_url(offset=1, starting_after=campaign["id"])),
                            "starting_after")


# ---- the total is kept by the database, whatever writes the rows ----------------------

def test_total_follows_status_changes_and_deletes_made_outside_the_api(api, create_campaign):
    first, second = create_campaign()["id"], create_campaign()["id"]
    set_status(first, "completed")
    assert api.get(list_url(status="completed")).json["pagination"]["total"] == 1
    assert api.get(list_url(status="draft")).json["pagination"]["total"] == 1
    with database.connection():
        Campaign.delete().where(Campaign.id == second).execute()
    assert api.get(list_url()).json["pagination"]["total"] == 1
    assert api.get(list_url(status="draft")).json["pagination"]["total"] == 0
