"""Tenant isolation: every tenant route with another tenant's key and ids.

Tenant B's key on tenant A's workspace, campaign or lead answers exactly as a workspace,
campaign or lead that does not exist (so B learns nothing), without a key it is a 401,
and the database is the same afterwards, row for row.
"""
import pytest

from app import database
from app.models import MODELS, Lead, new_id
from tests.conftest import BASE

MISSING_SLUG = "no-such-workspace"

# (name, method, path, JSON body); {slug} {cid} {lid} are tenant A's, {own} is B's campaign.
ROUTES = [
    ("list", "get", BASE + "?workspace={slug}", None),
    ("create", "post", BASE, {"workspace_slug": "{slug}", "name": "Planted"}),
    ("get", "get", BASE + "/{cid}", None),
    ("patch", "patch", BASE + "/{cid}", {"name": "Hijacked"}),
    ("delete", "delete", BASE + "/{cid}", None),
    ("send", "post", BASE + "/{cid}/send", {"action": "start"}),
    ("leads-add", "post", BASE + "/{cid}/leads", {"leads": [{"email": "planted@example.com"}]}),
    ("leads-list", "get", BASE + "/{cid}/leads", None),
    ("lead-delete", "delete", BASE + "/{cid}/leads/{lid}", None),
    ("lead-delete-via-own-campaign", "delete", BASE + "/{own}/leads/{lid}", None),
]
EXPECTED_CODE = {
    "list": "workspace_not_found",
    "create": "workspace_not_found",
    "lead-delete-via-own-campaign": "lead_not_found",
}
IDS = [route[0] for route in ROUTES]


def snapshot():
    """Every row of every table, in a stable order."""
    with database.connection():
        return {model.__name__: sorted(
            (tuple(sorted(row.items())) for row in model.select().dicts()), key=repr)
            for model in MODELS}


def fill(route, *, slug, cid, lid, own):
    _name, method, path, body = route
    values = {"slug": slug, "cid": cid, "lid": lid, "own": own}
    if body is not None:
        body = {k: v.format(**values) if isinstance(v, str) else v for k, v in body.items()}
    return method, path.format(**values), body


@pytest.fixture
def theirs(other_tenant, api, ready_campaign):
    """Tenant A's startable campaign with one lead: (campaign id, lead id).

    Tenant B is made first, on the fixture's connection (requests close theirs).
    """
    campaign = ready_campaign()
    leads = api.get(f"{BASE}/{campaign['id']}/leads").json["data"]
    assert campaign["allowed_actions"] == ["start"]
    return campaign["id"], leads[0]["id"]


@pytest.fixture
def intruder(client, other_tenant):
    """Tenant B: its own campaign (id) and a call with its key."""
    created = client.post(BASE, headers=other_tenant.headers,
                          json={"workspace_slug": other_tenant.slug, "name": "Mine"})
    assert created.status_code == 201

    def call(method, path, body):
        return getattr(client, method)(path, json=body, headers=other_tenant.headers)
    call.own = created.json["data"]["id"]
    return call


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_other_tenants_ids_answer_404_like_missing_ones(tenant, theirs, intruder, route):
    cid, lid = theirs
    missing = {"slug": MISSING_SLUG, "cid": new_id("cmp"), "lid": new_id("lead")}
    real = {"slug": tenant.slug, "cid": cid, "lid": lid}
    before = snapshot()

    foreign = intruder(*fill(route, **real, own=intruder.own))
    absent = intruder(*fill(route, **missing, own=intruder.own))

    assert foreign.status_code == 404
    assert foreign.json["success"] is False
    assert foreign.json["error"]["code"] == EXPECTED_CODE.get(route[0], "campaign_not_found")
    expected = absent.get_data(as_text=True)
    for name in ("slug", "cid", "lid"):
        expected = expected.replace(missing[name], real[name])
    assert foreign.get_data(as_text=True) == expected
    assert set(foreign.headers.keys()) == set(absent.headers.keys())
    assert snapshot() == before


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_other_tenants_ids_without_a_key_are_401(client, tenant, theirs, intruder, route):
    cid, lid = theirs
    method, path, body = fill(route, slug=tenant.slug, cid=cid, lid=lid, own=intruder.own)
    before = snapshot()

    response = getattr(client, method)(path, json=body)

    assert response.status_code == 401
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "unauthorized"
    assert cid not in response.get_data(as_text=True)
    assert snapshot() == before


def test_owner_still_sees_everything_after_the_attempts(api, tenant, theirs, intruder):
    cid, lid = theirs
    detail = api.get(f"{BASE}/{cid}").json["data"]
    for route in ROUTES:
        intruder(*fill(route, slug=tenant.slug, cid=cid, lid=lid, own=intruder.own))

    assert api.get(f"{BASE}/{cid}").json["data"] == detail
    assert [lead["id"] for lead in api.get(f"{BASE}/{cid}/leads").json["data"]] == [lid]
    listed = api.get(f"{BASE}?workspace={tenant.slug}").json
    assert [c["id"] for c in listed["data"]] == [cid]
    with database.connection():
        assert Lead.select().where(Lead.email == "planted@example.com").count() == 0


def test_intruder_sees_only_its_own_campaign_in_its_list(client, other_tenant, theirs,
                                                          intruder):
    response = client.get(f"{BASE}?workspace={other_tenant.slug}",
                          headers=other_tenant.headers)

    assert response.status_code == 200
    assert [c["id"] for c in response.json["data"]] == [intruder.own]
