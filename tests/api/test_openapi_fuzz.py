"""The API keeps the promises of its OpenAPI document under generated requests.

Every operation of /api/v1/openapi.json (and of /api/v1/openapi-mail.json, the routes mail
reaches) gets schema-generated requests, valid and invalid, sent with a valid API key or
inbound secret (and without one). Every answer must be a documented, non-5xx status with a
documented content type and headers and a body matching its documented schema; a request
that breaks the documented schema must be refused (except a bad item of a bulk request
that checks each item alone and reports it in a 200); an operation that needs a key must
refuse a request without one.

Each operation runs against its own freshly migrated database holding, under fixed ids,
campaigns in every status and one of another tenant. Generated requests are aimed at those
campaigns and at the tenant's workspace as well as at made-up ones, so the 200, 409 and
422 answers are checked, not only the 404s.
"""
import tempfile
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks

from app import create_app, database
from app.api import MAIL_DOCUMENT
from app.api.core.auth import BEARER
from app.lifecycle import CampaignStatus
from app.models import ApiKey, Campaign, hash_key
from app.models import campaign as campaign_model
from tests import strategies  # also registers the message/rfc822 generator
from tests.config import TestConfig
from tests.conftest import BASE

SLUG = "acme-corp"
# The seeded tenant's API key, fixed so the generator knows it and can also leave it out.
SECRET = "sk_live_openapi-contract-check-0000000000000000"
# What a mail provider's inbound route authenticates with.
INBOUND_SECRET = "inbound-openapi-contract-check"
# Real campaigns of the key's tenant, by status ("ready": a draft that may start).
CAMPAIGNS = {
    CampaignStatus.DRAFT: "cmp_01jd3v0m4h8x3q2w9e7r6t5y40",
    "ready": "cmp_01jd3v0m4h8x3q2w9e7r6t5y41",
    CampaignStatus.ACTIVE: "cmp_01jd3v0m4h8x3q2w9e7r6t5y42",
    CampaignStatus.PAUSED: "cmp_01jd3v0m4h8x3q2w9e7r6t5y43",
    CampaignStatus.COMPLETED: "cmp_01jd3v0m4h8x3q2w9e7r6t5y44",
}
# Another tenant's campaign: it must answer exactly like one that does not exist.
FOREIGN = "cmp_01jd3v0m4h8x3q2w9e7r6t5y45"
KNOWN_IDS = [*CAMPAIGNS.values(), FOREIGN]

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
]

# Bulk operations that check each item alone and report the bad ones in a 200 (their items
# are documented with the schema they are checked with): a bad item is no refusal there.
ITEMS_CHECKED_ALONE = {"addLeads"}

GENERATION = {
    # Reproducible in CI, and small enough for a suite that runs twice (SQLite, Postgres).
    "seed": 20251101,
    "generation": {"mode": "all", "max-examples": 25, "database": "none"},
}
CONFIG = {
    **GENERATION,
    "auth": {"openapi": {BEARER: {"bearer": SECRET}}},
    # Every phase starts from real data; the hooks below mix in the other cases.
    "parameters": {
        "path.campaign_id": CAMPAIGNS["ready"],
        "query.workspace": SLUG,
        "body.workspace_slug": SLUG,
    },
}




# The routes mail reaches, in their own document: the links' tokens are generated (so
# forged: 404s) and the inbound route gets generated messages.
MAIL_CONFIG = {**GENERATION, "auth": {"openapi": {"inboundSecret": {"bearer": INBOUND_SECRET}}}}


def _load_schema(path, config):
    """A document exactly as served, read from an app that touches no real data."""
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(TestConfig(DATABASE_URL=f"sqlite:///{directory}/openapi.db"))
        return schemathesis.openapi.from_wsgi(
            path, app, config=schemathesis.Config.from_dict(config))


schema = _load_schema("/api/v1/openapi.json", CONFIG)
mail_schema = _load_schema(MAIL_DOCUMENT, MAIL_CONFIG)


@schema.hook("flatmap_path_parameters")
def real_campaign_ids(context, path_parameters):
    # Generated ids (404) or any of the seeded campaigns.
    if not path_parameters or "campaign_id" not in path_parameters:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, *({"campaign_id": i} for i in KNOWN_IDS)])


@schema.hook("flatmap_query")
def real_workspace(context, query):
    # The tenant's workspace is the configured default; another tenant's must be a 404.
    if not query or "workspace" not in query:
        return st.just(query)
    return st.sampled_from([query, {**query, "workspace": "globex"}])


@schema.hook("flatmap_case")
def real_body_values(context, case):
    """Valid bodies that also name the real workspace or a real time zone, so creates and
    settings changes succeed too (only for valid requests: an invalid one stays invalid)."""
    if not (case.meta and case.meta.generation.mode.is_positive and isinstance(case.body, dict)):
        return st.just(case)
    return st.booleans().map(lambda steer: strategies.steer(case, SLUG) if steer else case)


@pytest.fixture(autouse=True)
def _service_config(monkeypatch):
    """Set before the app is made: rate limits generated runs cannot reach (they would
    meet 429s instead of the answers under test), and the inbound route's secret."""
    monkeypatch.setenv("RATE_LIMIT", "1000000/minute")
    monkeypatch.setenv("AUTH_FAILURE_RATE_LIMIT", "1000000/minute")
    monkeypatch.setenv("INBOUND_SECRET", INBOUND_SECRET)


@pytest.fixture
def seeded(app, api, tenant, other_tenant, create_campaign, ready_campaign, monkeypatch):
    """The key SECRET and, under the fixed ids, campaigns in every status and one of
    another tenant, all made through the API as a client would."""
    with database.connection():
        ApiKey.create(tenant=tenant.model, name="contract", prefix=SECRET[:12],
                      key_hash=hash_key(SECRET))
    # The ids must be known before any test runs (cases of the coverage phase are built
    # when the tests are collected), so the seeded campaigns are given the fixed ones.
    fixed = iter([*CAMPAIGNS.values(), FOREIGN])
    real_new_id = campaign_model.new_id
    with monkeypatch.context() as patch:
        patch.setattr(campaign_model, "new_id",
                      lambda prefix: next(fixed) if prefix == "cmp" else real_new_id(prefix))
        made = {CampaignStatus.DRAFT: create_campaign(name="Seeded draft")}
        for status in ("ready", CampaignStatus.ACTIVE, CampaignStatus.PAUSED, CampaignStatus.COMPLETED):
            made[status] = ready_campaign(name=f"Seeded {status}")
        foreign = api.post(BASE, headers=other_tenant.headers,
                           json={"workspace_slug": other_tenant.slug, "name": "Not yours"})
    assert {status: c["id"] for status, c in made.items()} == CAMPAIGNS
    assert foreign.json["data"]["id"] == FOREIGN
    for status, actions in ((CampaignStatus.ACTIVE, ["start"]), (CampaignStatus.PAUSED, ["start", "pause"]),
                            (CampaignStatus.COMPLETED, ["start"])):
        for action in actions:
            response = api.post(f"{BASE}/{CAMPAIGNS[status]}/send", json={"action": action})
            assert response.status_code == 200, response.json
    with database.connection():
        # No endpoint completes a campaign: the sender does, after the last step.
        Campaign.update(status=CampaignStatus.COMPLETED).where(Campaign.id == CAMPAIGNS[CampaignStatus.COMPLETED]).execute()
    return tenant


@schema.parametrize()
# One database per operation, shared by its examples on purpose: what one request changes
# (a start, a delete) is the state the next one meets, and no check depends on it.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_operation_answers_as_documented(case, app, seeded):
    spread_over_statuses(case)
    case.call_and_validate(app=app, checks=checks_for(case))


@mail_schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mail_route_answers_as_documented(case, app, seeded):
    case.call_and_validate(app=app, checks=checks_for(case))


def checks_for(case):
    if case.operation.definition.raw.get("operationId") in ITEMS_CHECKED_ALONE:
        return [check for check in CHECKS if check is not checks.negative_data_rejection]
    return CHECKS


def spread_over_statuses(case):
    """Cases for the default campaign (all of the coverage phase) go to a campaign of each
    status in turn, picked from the case itself so that a replay picks the same one."""
    if (case.path_parameters or {}).get("campaign_id") == CAMPAIGNS["ready"]:
        pick = zlib.crc32(repr((case.method, case.query, case.body)).encode())
        case.path_parameters["campaign_id"] = KNOWN_IDS[pick % len(KNOWN_IDS)]
