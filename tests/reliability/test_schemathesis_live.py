"""The deployed service keeps the promises of its OpenAPI document under generated traffic.

schemathesis reads /api/v1/openapi.json from a running ``gunicorn wsgi:app`` and, for
every operation (the leads routes included), sends the documented examples,
its coverage cases and fuzzed requests, valid and invalid, over HTTP with a valid key
(and without one). Every answer must be a documented, non-5xx status with a documented
content type, headers and body; a request that breaks the documented schema must be
refused (except a bad lead in a bulk add, which is reported in a 200 with the others
added); an operation that needs a key must refuse a request without one.

Before each operation's requests (and after a DELETE that removed one of them), campaigns
in every status, one of another tenant and a lead are made through the API, so that what
one operation did to them is not what the next one meets. Generated requests name them
through placeholders swapped for the current ids when sent: each of those campaigns or
one that does not exist, the seeded lead or a generated id, the tenant's workspace or
another tenant's.
"""
import os
import zlib

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import checks

from app.lifecycle import CampaignStatus
from app.models import Campaign
from tests import strategies  # also registers the message/rfc822 generator
from tests.config import TEST_ENCRYPTION_KEY
from tests.e2e.test_gunicorn import flask
from tests.reliability.live import (
    CAMPAIGNS,
    SLUG,
    create_campaign,
    direct_database,
    gunicorn,
    live_env,
    ready_campaign,
    send,
)

# Generated requests per operation in the fuzzing phase (the other phases add their own);
# LIVE_FUZZ_EXAMPLES sets it; 0 skips the live run.
MAX_EXAMPLES = int(os.environ.get("LIVE_FUZZ_EXAMPLES", "150"))
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(MAX_EXAMPLES == 0, reason="LIVE_FUZZ_EXAMPLES=0")]

INBOUND_SECRET = "inbound-live-contract-check"
OTHER_SLUG = "globex"
# Stand-ins for the seeded campaigns and lead, replaced by the current ids when sent.
PLACEHOLDER = "cmp_seeded_{}"
STATES = ("draft", "ready", "active", "paused", "completed", "foreign", "missing")
ANY_SEEDED = PLACEHOLDER.format("any")
LEAD_PLACEHOLDER = "lead_seeded"


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
]




class Seeds:
    """Campaigns in every status, one of another tenant and a lead, remade on demand."""

    def __init__(self, base, key, other_key, database_url):
        self.base, self.key, self.other_key = base, key, other_key
        self.database_url = database_url
        self.ids = {}
        self.lead_id = None
        self.operation = None

    def renew(self):
        made = {"draft": create_campaign(self.base, self.key, "Seeded draft")}
        for state in ("ready", "active", "paused", "completed"):
            made[state] = ready_campaign(self.base, self.key, f"Seeded {state}")
        for state, actions in (("active", ["start"]), ("paused", ["start", "pause"]),
                               ("completed", ["start"])):
            for action in actions:
                answer = send(self.base, "POST", f"{CAMPAIGNS}/{made[state]['id']}/send",
                              key=self.key, body={"action": action})
                assert answer.status == 200, answer
        answer = send(self.base, "POST", CAMPAIGNS, key=self.other_key,
                      body={"workspace_slug": OTHER_SLUG, "name": "Not yours"})
        assert answer.status == 201, answer
        made["foreign"] = answer.json["data"]
        with direct_database(self.database_url):
            # No endpoint completes a campaign: the sender does, after the last step.
            Campaign.update(status=CampaignStatus.COMPLETED).where(
                Campaign.id == made["completed"]["id"]).execute()
        self.ids = {state: campaign["id"] for state, campaign in made.items()}
        self.ids["missing"] = "cmp_01jd3v0m4h8x3q2w9e7r6t5y4z"
        leads = send(self.base, "GET", f"{CAMPAIGNS}/{self.ids['ready']}/leads", key=self.key)
        self.lead_id = leads.json["data"][0]["id"]

    def aim(self, case):
        """Put the current ids in place of the placeholders; fresh seeds per operation."""
        if case.operation.label != self.operation:
            self.renew()
            self.operation = case.operation.label
        params = case.path_parameters
        if not params:
            return
        if params.get("lead_id") == LEAD_PLACEHOLDER:
            params["lead_id"] = self.lead_id
            if params.get("campaign_id") == ANY_SEEDED:
                params["campaign_id"] = self.ids["ready"]  # the seeded lead's campaign
        if params.get("campaign_id") == ANY_SEEDED:
            # Cases built without the hooks (the coverage phase): a campaign of each status
            # (or none) in turn, picked from the case itself so a replay picks the same one.
            pick = zlib.crc32(repr((case.method, params, case.query, case.body)).encode())
            params["campaign_id"] = self.ids[STATES[pick % len(STATES)]]

    def after(self, case):
        """Remake the seeds when a DELETE removed one of them."""
        params = case.path_parameters or {}
        own = [self.ids[state] for state in STATES if state not in ("foreign", "missing")]
        if case.method.upper() != "DELETE" or params.get("campaign_id") not in own:
            return
        lead_id = params.get("lead_id")
        if lead_id is None:
            gone = send(self.base, "GET", f"{CAMPAIGNS}/{params['campaign_id']}",
                        key=self.key).status == 404
        else:
            leads = send(self.base, "GET", f"{CAMPAIGNS}/{self.ids['ready']}/leads",
                         key=self.key).json["data"]
            gone = self.lead_id not in [lead["id"] for lead in leads]
        if gone:
            self.renew()


@pytest.fixture
def live(service_env, api_key, tmp_path):
    other_key = flask(service_env, "tenants", "create", "Globex", "--workspace",
                      OTHER_SLUG).strip().splitlines()[-1]
    # A rate limit generated runs cannot reach (they would meet 429s instead of the
    # answers under test), the inbound route's secret, and a key for mailbox passwords
    # (without one, a well-formed mailbox is a deliberate 503, which is not under test).
    env = live_env(service_env, RATE_LIMIT="100000000/minute",
                   AUTH_FAILURE_RATE_LIMIT="100000000/minute", INBOUND_SECRET=INBOUND_SECRET,
                   ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY)
    with gunicorn(env, tmp_path, workers=2) as base:
        yield base, Seeds(base, api_key, other_key, service_env["DATABASE_URL"])


@pytest.fixture
def seeds(live):
    return live[1]


@pytest.fixture
def live_schema(live, api_key):
    base, _ = live
    config = schemathesis.Config.from_dict({
        # Reproducible, and bounded for a suite that runs twice (SQLite, Postgres).
        "seed": 20251129,
        "base-url": base,
        "request-timeout": 15,
        "auth": {"openapi": {"bearerAuth": {"bearer": api_key}}},
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        "checks": {"negative_data_rejection": {
            # The check's own list, and 413: a body over MAX_CONTENT_LENGTH is refused
            # before it is read, which is a refusal like the others.
            "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413",
                                  "415", "422", "428", "429", "5xx"]}},
        "parameters": {
            "path.campaign_id": ANY_SEEDED,
            "query.workspace": SLUG,
            "body.workspace_slug": SLUG,
        },
    })
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", config=config)

    @schema.hook("flatmap_path_parameters")
    def seeded_lead(context, path_parameters):
        # A generated lead id (a 404) or the seeded lead.
        if not path_parameters or "lead_id" not in path_parameters:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters,
                                {**path_parameters, "lead_id": LEAD_PLACEHOLDER}])

    @schema.hook("flatmap_case")
    def real_values(context, case):
        """Generated cases name each seeded campaign (or a missing one) and the tenant's
        workspace or another tenant's; valid bodies also name the real workspace or a
        real time zone, so creates and settings changes succeed too (an invalid request
        stays invalid)."""
        strategy = st.just(case)
        if (case.path_parameters or {}).get("campaign_id") == ANY_SEEDED:
            strategy = strategy.flatmap(lambda aimed: st.sampled_from(STATES).map(
                lambda state: _set(aimed.path_parameters, "campaign_id",
                                   PLACEHOLDER.format(state), aimed)))
        if (case.query or {}).get("workspace") == SLUG:
            strategy = strategy.flatmap(lambda aimed: st.sampled_from([SLUG, OTHER_SLUG]).map(
                lambda slug: _set(aimed.query, "workspace", slug, aimed)))
        if case.meta and case.meta.generation.mode.is_positive and isinstance(case.body, dict):
            strategy = strategy.flatmap(lambda aimed: st.booleans().map(
                lambda steer: strategies.steer(aimed, SLUG) if steer else aimed))
        return strategy

    return schema




def _set(mapping, name, value, case):
    mapping[name] = value
    return case


schema = schemathesis.pytest.from_fixture("live_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    # The lazy loader names each operation's subtest by rewriting ``node._nodeid``,
    # which pytest 9.2 nodes no longer have (they keep ``nodeid`` elsewhere).
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
def test_live_service_answers_as_documented(case, seeds):
    seeds.aim(case)
    try:
        # The bulk lead add checks each lead alone and reports the bad ones in its 200.
        refusals = case.operation.definition.raw.get("operationId") != "addLeads"
        case.call_and_validate(checks=[c for c in CHECKS if refusals
                                       or c is not checks.negative_data_rejection])
    finally:
        seeds.after(case)
