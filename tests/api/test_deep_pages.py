"""Bounded cost per list request: no offset past 10,000 (a 422 that names the cursor),
and cursor pages for the leads list as for the campaign list."""
import pytest

from tests.conftest import BASE


def assert_too_deep(response):
    assert response.status_code == 422
    assert response.json["success"] is False
    error = response.json["error"]
    assert error["code"] == "offset_too_deep"
    assert "starting_after" in error["message"]
    assert error["details"] == {"max_offset": 10_000}


def test_campaign_list_offset_past_10000_is_offset_too_deep(api, tenant):
    response = api.get(f"{BASE}?workspace={tenant.slug}&offset=10001")

    assert_too_deep(response)


def test_campaign_list_offset_10000_is_allowed(api, tenant, create_campaign):
    create_campaign()

    response = api.get(f"{BASE}?workspace={tenant.slug}&offset=10000")

    assert response.status_code == 200
    assert response.json["data"] == []
    assert response.json["pagination"]["total"] == 1


def test_leads_list_offset_past_10000_is_offset_too_deep(api, create_campaign):
    campaign = create_campaign()

    response = api.get(f"{BASE}/{campaign['id']}/leads?offset=10000000")

    assert_too_deep(response)


def test_a_huge_offset_is_still_a_422(api, tenant):
    response = api.get(f"{BASE}?workspace={tenant.slug}&offset={'9' * 400}")

    assert response.status_code == 422
    assert response.json["error"]["code"] in ("offset_too_deep", "validation_error")


# ---- the leads list by cursor ------------------------------------------------------------

@pytest.fixture
def five_leads(api, create_campaign):
    campaign = create_campaign()
    url = f"{BASE}/{campaign['id']}/leads"
    added = api.post(url, json={"leads": [{"email": f"p{n}@example.com"} for n in range(5)]})
    assert added.status_code == 200, added.json
    listed = api.get(f"{url}?limit=100").json["data"]
    return url, [lead["id"] for lead in listed]


def test_leads_pages_by_cursor_walk_the_list_in_order(api, five_leads):
    url, ids = five_leads
    seen, pages, cursor = [], [], None
    while True:
        query = "limit=2" + (f"&starting_after={cursor}" if cursor else "")
        response = api.get(f"{url}?{query}")
        assert response.status_code == 200, response.json
        page = [lead["id"] for lead in response.json["data"]]
        pages.append(response.json["pagination"])
        seen += page
        if not response.json["pagination"]["has_more"]:
            break
        cursor = page[-1]

    assert seen == ids
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert {p["total"] for p in pages} == {5}


def test_leads_cursor_after_the_last_lead_is_an_empty_page(api, five_leads):
    url, ids = five_leads

    response = api.get(f"{url}?starting_after={ids[-1]}")

    assert response.status_code == 200
    assert response.json["data"] == []
    assert response.json["pagination"]["has_more"] is False


def test_leads_cursor_keeps_the_status_filter(api, five_leads):
    url, ids = five_leads

    response = api.get(f"{url}?status=pending&starting_after={ids[1]}")

    assert response.status_code == 200
    assert [lead["id"] for lead in response.json["data"]] == ids[2:]


def test_leads_unknown_cursor_is_422(api, five_leads):
    url, _ids = five_leads

    response = api.get(f"{url}?starting_after=lead_nope")

    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "starting_after" in response.json["error"]["details"]["fields"]


def test_leads_cursor_of_another_campaign_is_422(api, five_leads, create_campaign):
    _url, ids = five_leads
    other = create_campaign(name="Other")

    response = api.get(f"{BASE}/{other['id']}/leads?starting_after={ids[0]}")

    assert response.status_code == 422
    assert "starting_after" in response.json["error"]["details"]["fields"]


def test_leads_cursor_and_offset_together_are_422(api, five_leads):
    url, ids = five_leads

    response = api.get(f"{url}?offset=2&starting_after={ids[0]}")

    assert response.status_code == 422
    assert "starting_after" in response.json["error"]["details"]["fields"]


def test_leads_offset_pages_report_has_more(api, five_leads):
    url, ids = five_leads

    first = api.get(f"{url}?limit=2&offset=2")
    last = api.get(f"{url}?limit=2&offset=4")

    assert [lead["id"] for lead in first.json["data"]] == ids[2:4]
    assert first.json["pagination"]["has_more"] is True
    assert last.json["pagination"] == {"total": 5, "limit": 2, "offset": 4, "has_more": False}


@pytest.mark.parametrize("resource", ["mailboxes", "webhooks"])
def test_workspace_lists_without_a_cursor_refuse_deep_offsets_too(api, tenant, resource):
    response = api.get(f"/api/v1/tenant/{resource}?workspace={tenant.slug}&offset=10001")

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "offset_too_deep"
    assert "starting_after" not in error["message"]  # these lists have no cursor


@pytest.mark.parametrize("resource", ["mailboxes", "webhooks"])
def test_workspace_lists_take_an_offset_up_to_10000(api, tenant, resource):
    response = api.get(f"/api/v1/tenant/{resource}?workspace={tenant.slug}&offset=10000")

    assert response.status_code == 200
    assert response.json["data"] == []
