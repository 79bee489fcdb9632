"""``database.prepared``: a query written with peewee, compiled once per database kind
and shape, gives what peewee's own run of the same query gives, on both databases."""
import datetime

import pytest
from peewee import fn

from app import clock, database
from app.database import Param, prepared
from app.models import Campaign, Workspace
from app.services import campaigns as campaign_service


@prepared
def _names(*, with_goal, limit):
    query = (Campaign.select(Campaign.name, Campaign.created_at)
             .join(Workspace).where(Workspace.slug == Param("workspace"))
             .order_by(Campaign.name).limit(limit))
    if with_goal:
        query = query.where(Campaign.goal == Param("goal"))
    return query


@pytest.fixture
def campaigns(app, tenant):
    tenant = tenant.model
    for name, goal in [("a", "lead_gen"), ("b", "meetings"), ("c", "lead_gen"),
                       ("d'; DROP TABLE campaign; --", "lead_gen")]:
        campaign_service.create_campaign(tenant, workspace_slug="acme-corp", name=name,
                                         goal=goal)
    return tenant


def _plain(workspace, goal, limit):
    query = (Campaign.select(Campaign.name).join(Workspace)
             .where(Workspace.slug == workspace).order_by(Campaign.name).limit(limit))
    if goal:
        query = query.where(Campaign.goal == goal)
    return [name for (name,) in query.tuples()]


@pytest.mark.parametrize(("goal", "limit"), [(None, 10), (None, 2), ("lead_gen", 10),
                                             ("meetings", 1), ("none", 5)])
def test_each_shape_gives_the_rows_peewee_gives(campaigns, goal, limit):
    rows = _names({"workspace": "acme-corp", "goal": goal},
                  with_goal=goal is not None, limit=limit).fetchall()

    assert [name for name, _ in rows] == _plain("acme-corp", goal, limit)


def test_a_statement_is_compiled_once_per_shape(campaigns):
    _names.compiled.cache_clear()
    for workspace in ("acme-corp", "nope", "acme-corp"):
        _names({"workspace": workspace, "goal": "lead_gen"}, with_goal=True, limit=3)
    _names({"workspace": "acme-corp"}, with_goal=False, limit=3)

    info = _names.compiled.cache_info()
    assert (info.misses, info.hits) == (2, 2)


def test_the_statement_is_the_running_databases_own(campaigns):
    sql, params = _names.compiled(type(database.db.obj), (("limit", 3), ("with_goal", True)))
    mark = "%s" if database.is_postgres() else "?"
    # The workspace, the goal, and the limit peewee makes a parameter of its own.
    assert sql.count(mark) == len(params) == 3
    assert params[-1] == 3


def test_values_are_parameters_never_text(campaigns):
    hostile = "acme-corp' OR '1'='1"
    assert _names({"workspace": hostile}, with_goal=False, limit=10).fetchall() == []
    sql, params = _names.compiled(type(database.db.obj),
                                  (("limit", 10), ("with_goal", False)))
    assert "acme-corp" not in sql and "OR '1'" not in sql
    # The name with a quote in it comes back as it was stored.
    names = [name for name, _ in _names({"workspace": "acme-corp"}, with_goal=False,
                                        limit=10)]
    assert "d'; DROP TABLE campaign; --" in names


def test_a_param_with_a_field_converts_as_the_field_does(campaigns):
    @prepared
    def created_since():
        return (Campaign.select(fn.COUNT(Campaign.id))
                .where(Campaign.created_at >= Param("since", Campaign.created_at)))

    past = clock.now() - datetime.timedelta(days=1)
    future = clock.now() + datetime.timedelta(days=1)
    assert created_since({"since": past}).fetchone()[0] == 4
    assert created_since({"since": future}).fetchone()[0] == 0


def test_the_campaign_list_runs_prepared(client, tenant, campaigns):
    campaign_service._page.compiled.cache_clear()
    headers = tenant.headers
    for _ in range(3):
        assert client.get("/api/v1/tenant/campaigns?workspace=acme-corp&limit=2",
                          headers=headers).status_code == 200

    info = campaign_service._page.compiled.cache_info()
    assert (info.misses, info.hits) == (1, 2)
