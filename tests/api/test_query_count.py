"""The list endpoint costs the same number of SQL queries whatever the page size or depth:
two (the key, the page with its total), three for an empty page."""
import ast

import pytest

from app import database
from app.services import campaigns as campaign_service
from tests.conftest import BASE, ON_POSTGRES, count_queries

CAMPAIGNS = 105


def queries_for_page(api, slug, limit):
    with count_queries() as queries:
        response = api.get(f"{BASE}?workspace={slug}&limit={limit}")
    assert response.status_code == 200
    assert len(response.json["data"]) == limit
    assert response.json["pagination"]["total"] == CAMPAIGNS
    return list(queries)


def test_list_query_count_does_not_grow_with_page_size(api, tenant):
    with database.connection():
        for i in range(CAMPAIGNS):
            campaign_service.create_campaign(tenant.model, workspace_slug=tenant.slug,
                                             name=f"c{i}")

    pages = {limit: queries_for_page(api, tenant.slug, limit) for limit in (1, 20, 100)}
    counts = {limit: len(queries) for limit, queries in pages.items()}

    assert counts[1] == counts[20] == counts[100], counts
    # The counter does see the page being read (so equal counts are not 0 == 0) ...
    assert any('FROM "campaign"' in q and "LIMIT" in q for q in pages[100]), pages[100]
    # ... and it is two: the key, then the page with its total.
    assert counts[100] == 2, pages[100]


def test_an_empty_page_asks_once_more_and_stays_within_three(api, tenant):
    with count_queries() as queries:
        response = api.get(f"{BASE}?workspace={tenant.slug}")
    assert response.status_code == 200
    assert response.json["data"] == []
    assert response.json["pagination"]["total"] == 0
    assert len(queries) == 3, queries


def test_a_deep_cursor_page_costs_the_same_queries_as_the_first(api, tenant):
    with database.connection():
        for i in range(CAMPAIGNS):
            campaign_service.create_campaign(tenant.model, workspace_slug=tenant.slug,
                                             name=f"c{i}")
    first = api.get(f"{BASE}?workspace={tenant.slug}&limit=5").json["data"]
    with count_queries() as queries:
        response = api.get(f"{BASE}?workspace={tenant.slug}&limit=5"
                           f"&starting_after={first[-1]['id']}")
    assert response.status_code == 200
    assert len(response.json["data"]) == 5
    assert len(queries) == 2, queries


def test_the_total_never_counts_the_campaigns(api, tenant):
    with database.connection():
        for i in range(3):
            campaign_service.create_campaign(tenant.model, workspace_slug=tenant.slug,
                                             name=f"c{i}")
    for query in ("", "&status=draft", "&offset=10"):  # a page with rows, filtered, empty
        with count_queries() as queries:
            response = api.get(f"{BASE}?workspace={tenant.slug}{query}")
        assert response.status_code == 200
        assert response.json["pagination"]["total"] == 3
        assert not any("COUNT(" in q.upper() for q in queries), queries


@pytest.mark.skipif(ON_POSTGRES, reason="the plan is read with SQLite's EXPLAIN QUERY PLAN "
                    "(Postgres plans small test tables differently from large ones)")
def test_a_cursor_page_seeks_through_the_index(api, tenant, monkeypatch):
    with database.connection():
        for i in range(30):
            campaign_service.create_campaign(tenant.model, workspace_slug=tenant.slug,
                                             name=f"c{i}")
    first = api.get(f"{BASE}?workspace={tenant.slug}&limit=5").json["data"]
    db = database.db.obj
    seen, execute_sql = [], db.execute_sql
    monkeypatch.setattr(db, "execute_sql",
                        lambda sql, params=None: seen.append((sql, params))
                        or execute_sql(sql, params))
    response = api.get(f"{BASE}?workspace={tenant.slug}&limit=5"
                       f"&starting_after={first[-1]['id']}")
    monkeypatch.undo()
    assert response.status_code == 200
    sql, params = next((s, p) for s, p in seen if 'FROM "campaign"' in s and "LIMIT" in s)

    with database.connection():
        plan = " ".join(row[-1] for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}",
                                                          params))

    # A seek to the cursor's (created_at, id) inside the workspace's index, not a scan.
    assert "(created_at,id)<" in plan.replace(" ", ""), plan
    assert "SCAN" not in plan, plan



def test_a_page_without_offset_carries_its_limit_in_the_sql(api, tenant):
    """Postgres plans a prepared statement with a LIMIT or OFFSET parameter again on every
    run (at 1M campaigns, half of the page's query time; see README, Performance). The
    first page and cursor pages have no offset: theirs is a statement per limit."""
    with database.connection():
        for i in range(10):
            campaign_service.create_campaign(tenant.model, workspace_slug=tenant.slug,
                                             name=f"c{i}")
    first = api.get(f"{BASE}?workspace={tenant.slug}&limit=3").json["data"]
    pages = {}
    after = first[0]["id"]
    for name, query in [("first", "limit=7"), ("cursor", f"limit=7&starting_after={after}"),
                        ("offset", "limit=7&offset=2")]:
        with count_queries() as queries:
            response = api.get(f"{BASE}?workspace={tenant.slug}&{query}")
        assert response.status_code == 200 and len(response.json["data"]) == 7
        [pages[name]] = [ast.literal_eval(q)[0] for q in queries  # (sql, params)
                         if 'FROM "campaign"' in q and "ORDER BY" in q]
    for name in ("first", "cursor"):
        assert pages[name].rstrip().endswith("LIMIT 8"), pages[name]  # one more: has_more
        assert "OFFSET" not in pages[name]
    assert "OFFSET" in pages["offset"]
