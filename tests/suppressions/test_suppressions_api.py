"""GET, POST and DELETE /api/v1/tenant/suppressions?workspace=: addresses and domains."""
import pytest

from app.models import Suppression

URL = "/api/v1/tenant/suppressions"


def add(api, slug, items):
    response = api.post(f"{URL}?workspace={slug}", json={"suppressions": items})
    assert response.status_code == 200, response.json
    return response.json["data"]


def listed(api, slug, query=""):
    response = api.get(f"{URL}?workspace={slug}{query}")
    assert response.status_code == 200, response.json
    return response.json


def test_each_item_is_answered_alone(api, tenant):
    add(api, tenant.slug, [{"value": "old@example.com"}])
    data = add(api, tenant.slug, [
        {"value": "acme.com", "kind": "domain", "reason": "asked by legal"},
        {"value": "Jane@Example.com"},
        {"value": "old@example.com"},
        {"value": "ACME.com"},
        {"value": "not an address@", "kind": "email"},
        {"value": "x@acme.com", "kind": "domain"},
        {"kind": "domain"},
        {"value": "b.com", "colour": "red"},
    ])
    assert [(r["index"], r["result"]) for r in data["results"]] == [
        (0, "created"), (1, "created"), (2, "already_present"), (3, "already_present"),
        (4, "invalid"), (5, "invalid"), (6, "invalid"), (7, "invalid")]
    assert data["results"][0] == {"index": 0, "value": "acme.com", "kind": "domain",
                                  "result": "created"}
    assert data["results"][1]["value"] == "jane@example.com"
    assert "value" in data["results"][5]["errors"]
    assert data["results"][6]["value"] is None
    assert "colour" in data["results"][7]["errors"]
    assert (data["created"], data["already_present"], data["invalid"]) == (2, 2, 4)
    assert Suppression.select().count() == 3


def test_an_item_that_is_no_object_is_422(api, tenant):
    response = api.post(f"{URL}?workspace={tenant.slug}", json={"suppressions": ["a.com"]})
    assert response.status_code == 422
    assert Suppression.select().count() == 0


def test_the_kind_follows_the_value_when_not_given(api, tenant):
    data = add(api, tenant.slug, [{"value": "acme.com"}, {"value": "a@acme.org"}])
    assert [r["kind"] for r in data["results"]] == ["domain", "email"]


def test_an_international_domain_is_stored_in_its_ascii_form(api, tenant):
    data = add(api, tenant.slug, [{"value": "Bücher.Example"},
                                  {"value": "xn--bcher-kva.example"}])
    assert [(r["value"], r["result"]) for r in data["results"]] == [
        ("xn--bcher-kva.example", "created"), ("xn--bcher-kva.example", "already_present")]


def test_an_address_at_an_international_domain_is_stored_as_leads_store_it(api, tenant):
    [result] = add(api, tenant.slug, [{"value": "Anna@Bücher.example"}])["results"]
    assert result["value"] == "anna@xn--bcher-kva.example"


@pytest.mark.parametrize("items", [[], [{"value": f"a{i}@acme.com"} for i in range(1001)]])
def test_an_empty_or_oversized_batch_is_422_and_adds_nothing(api, tenant, items):
    response = api.post(f"{URL}?workspace={tenant.slug}", json={"suppressions": items})
    assert response.status_code == 422
    assert Suppression.select().count() == 0


def test_a_thousand_at_once_are_taken(api, tenant):
    data = add(api, tenant.slug, [{"value": f"a{i}@acme.com"} for i in range(1000)])
    assert data["created"] == 1000


def test_the_list_is_newest_first_with_its_source_and_reason(api, tenant, frozen):
    add(api, tenant.slug, [{"value": "first.com", "reason": "competitor"}])
    frozen.advance(seconds=1)
    add(api, tenant.slug, [{"value": "second@acme.com"}])
    body = listed(api, tenant.slug)
    assert [(s["value"], s["kind"], s["source"], s["reason"]) for s in body["data"]] == [
        ("second@acme.com", "email", "api", None), ("first.com", "domain", "api", "competitor")]
    assert body["pagination"] == {"limit": 20, "has_more": False, "next_cursor": None}


def test_the_cursor_walks_every_suppression_once(api, tenant):
    add(api, tenant.slug, [{"value": f"d{i}.com"} for i in range(7)])
    seen, query = [], "&limit=3"
    while True:
        body = listed(api, tenant.slug, query)
        seen += [s["value"] for s in body["data"]]
        if not body["pagination"]["has_more"]:
            break
        query = f"&limit=3&starting_after={body['pagination']['next_cursor']}"
    assert sorted(seen) == [f"d{i}.com" for i in range(7)]


def test_the_list_filters_by_kind(api, tenant):
    add(api, tenant.slug, [{"value": "acme.com"}, {"value": "a@b.com"}])
    assert [s["value"] for s in listed(api, tenant.slug, "&kind=domain")["data"]] == [
        "acme.com"]


def test_an_unknown_cursor_is_422(api, tenant):
    response = api.get(f"{URL}?workspace={tenant.slug}&starting_after=nope.com")
    assert response.status_code == 422


def test_unsubscribes_and_bounces_are_listed_with_their_source(api, tenant):
    Suppression.create(workspace=tenant.workspace.id, email="gone@acme.com",
                       reason="unsubscribed")
    [row] = listed(api, tenant.slug)["data"]
    assert (row["value"], row["kind"], row["source"]) == ("gone@acme.com", "email",
                                                          "unsubscribed")


def test_delete_takes_a_value_off_the_list(api, tenant):
    add(api, tenant.slug, [{"value": "acme.com"}, {"value": "a@b.com"}])
    response = api.delete(f"{URL}?workspace={tenant.slug}&value=ACME.com")
    assert response.status_code == 200
    assert response.json["data"] == {"value": "acme.com", "deleted": True}
    assert [s["value"] for s in listed(api, tenant.slug)["data"]] == ["a@b.com"]


def test_delete_takes_a_domain_in_unicode_or_ascii_form(api, tenant):
    add(api, tenant.slug, [{"value": "xn--bcher-kva.example"}])
    response = api.delete(f"{URL}?workspace={tenant.slug}&value=bücher.example")
    assert response.status_code == 200
    assert Suppression.select().count() == 0


@pytest.mark.parametrize("value", ["absent.com", "not valid@@"])
def test_deleting_what_is_not_listed_is_404(api, tenant, value):
    response = api.delete(f"{URL}?workspace={tenant.slug}&value={value}")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "suppression_not_found"


def test_delete_needs_a_value(api, tenant):
    assert api.delete(f"{URL}?workspace={tenant.slug}").status_code == 422


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_another_tenants_workspace_is_404(client, tenant, other_tenant, method):
    Suppression.create(workspace=tenant.workspace.id, email="acme.com", reason="api",
                       kind="domain")
    query = f"{URL}?workspace={tenant.slug}&value=acme.com"
    kwargs = {"json": {"suppressions": [{"value": "x.com"}]}} if method == "post" else {}
    response = getattr(client, method)(query if method == "delete" else
                                       f"{URL}?workspace={tenant.slug}",
                                       headers=other_tenant.headers, **kwargs)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "workspace_not_found"
    assert [s.email for s in Suppression.select()] == ["acme.com"]


def test_without_a_key_is_401(client, tenant):
    assert client.get(f"{URL}?workspace={tenant.slug}").status_code == 401
