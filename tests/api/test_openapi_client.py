"""A client generated from the served OpenAPI document drives a whole campaign.

openapi-python-client (as API consumers use it) writes a Python package from
/api/v1/openapi.json, and must print no warning doing so: nothing skipped, nothing it
could not type. The test then uses only that package's functions and types, over httpx
against the app itself, to create a campaign, give it steps and a sender, add leads,
start, list, pause and resume it, and reads the errors as the generated Error type.
"""
import importlib
import json
import subprocess
import sys
import tempfile

import httpx
import pytest

from app import create_app
from tests.config import TestConfig

PACKAGE = "campaigns_client"
GENERATOR_CONFIG = f"""\
project_name_override: {PACKAGE}
package_name_override: {PACKAGE}
post_hooks: []
"""


def _served_document(directory):
    app = create_app(TestConfig(DATABASE_URL=f"sqlite:///{directory}/openapi.db"))
    return app.test_client().get("/api/v1/openapi.json").json


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The generated package, imported, and what the generator printed."""
    root = tmp_path_factory.mktemp("client")
    with tempfile.TemporaryDirectory() as directory:
        (root / "openapi.json").write_text(json.dumps(_served_document(directory)))
    (root / "config.yaml").write_text(GENERATOR_CONFIG)
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate",
         "--path", str(root / "openapi.json"), "--output-path", str(root / PACKAGE),
         "--meta", "none", "--config", str(root / "config.yaml")],
        capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE), run.stdout + run.stderr
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_the_generator_prints_no_warning(generated):
    _, output = generated
    assert "warning" not in output.lower(), output
    # One line, "Generating <path>": nothing skipped, nothing left untyped.
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Generating "), output


@pytest.fixture
def sdk(generated, app, tenant):
    """The generated client, authenticated as the tenant, calling the app through httpx."""
    package, _ = generated
    client = package.AuthenticatedClient(
        base_url="http://testserver", token=tenant.secret, raise_on_unexpected_status=True,
        httpx_args={"transport": httpx.WSGITransport(app=app)})
    with client:
        yield client


def _module(name):
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_drives_a_campaign(sdk, tenant):
    models = _module("models")
    campaigns = {name: _module(f"api.campaigns.{name}") for name in (
        "create_campaign", "update_campaign", "get_campaign", "list_campaigns",
        "send_campaign_action")}
    leads = {name: _module(f"api.leads.{name}") for name in ("add_leads", "list_leads")}

    created = campaigns["create_campaign"].sync(
        client=sdk, idempotency_key="client-create-1",
        body=models.CampaignCreate(workspace_slug=tenant.slug, name="Generated"))
    assert isinstance(created, models.CampaignEnvelope)
    campaign = created.data
    assert campaign.status is models.CampaignStatus.DRAFT
    assert campaign.goal is models.CampaignGoal.LEAD_GEN  # the default, not sent
    assert {b.action for b in campaign.blocked_actions} == set(models.CampaignAction)

    updated = campaigns["update_campaign"].sync(
        campaign.id, client=sdk, body=models.CampaignUpdate(
            goal=models.CampaignGoal.SALES,
            settings=models.Settings(from_email="ada@acme.test", daily_limit=50,
                                     schedule=models.Schedule(days=[models.Weekday.MON,
                                                                    models.Weekday.TUE])),
            sequence=[models.Step(subject="Hello {{ firstName }}", body="Hi there."),
                      models.Step(body="Following up.", delay=2,
                                  delay_unit=models.DelayUnit.HOURS)]))
    assert isinstance(updated, models.CampaignEnvelope), updated
    assert updated.data.goal is models.CampaignGoal.SALES
    assert [s.delay_unit for s in updated.data.sequence] == [models.DelayUnit.DAYS,
                                                             models.DelayUnit.HOURS]
    assert updated.data.settings.schedule.days == [models.Weekday.MON, models.Weekday.TUE]

    fields = models.LeadInCustomFields.from_dict({"role": "CTO"})
    added = leads["add_leads"].sync(campaign.id, client=sdk, body=models.LeadsAdd(leads=[
        models.LeadIn(email="grace@globex.test", first_name="Grace", custom_fields=fields),
        models.LeadIn(email="alan@initech.test"),
        models.LeadIn(email="not an address")]))
    assert isinstance(added, models.LeadsAddedEnvelope), added
    assert (added.data.added, added.data.duplicates) == (2, 0)
    assert [(i.index, i.email) for i in added.data.invalid] == [(2, "not an address")]

    send = campaigns["send_campaign_action"]
    started = send.sync(campaign.id, client=sdk,
                        body=models.Send(action=models.CampaignAction.START))
    assert isinstance(started, models.CampaignEnvelope), started
    assert started.data.status is models.CampaignStatus.ACTIVE
    assert models.CampaignAction.PAUSE in started.data.allowed_actions

    listed = campaigns["list_campaigns"].sync(client=sdk, workspace=tenant.slug,
                                              status=models.CampaignStatus.ACTIVE)
    assert isinstance(listed, models.CampaignListEnvelope), listed
    assert [c.id for c in listed.data] == [campaign.id]
    assert listed.pagination.total == 1

    page = leads["list_leads"].sync(campaign.id, client=sdk)
    assert {lead.email: lead.custom_fields.to_dict() for lead in page.data} == {
        "grace@globex.test": {"role": "CTO"}, "alan@initech.test": {}}
    assert all(isinstance(lead.status, models.LeadStatus) for lead in page.data)

    paused = send.sync(campaign.id, client=sdk,
                       body=models.Send(action=models.CampaignAction.PAUSE))
    assert paused.data.status is models.CampaignStatus.PAUSED
    resumed = send.sync(campaign.id, client=sdk,
                        body=models.Send(action=models.CampaignAction.RESUME))
    assert resumed.data.status is models.CampaignStatus.ACTIVE
    got = campaigns["get_campaign"].sync(campaign.id, client=sdk)
    assert got.data.status is models.CampaignStatus.ACTIVE
    assert got.data.launched_at is not None


def test_errors_parse_into_the_generated_error_type(sdk, tenant):
    models = _module("models")
    create = _module("api.campaigns.create_campaign")
    get = _module("api.campaigns.get_campaign")
    send = _module("api.campaigns.send_campaign_action")

    missing = get.sync_detailed("cmp_nope", client=sdk)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Error)
    assert missing.parsed.error.code == "campaign_not_found"

    elsewhere = create.sync(client=sdk, body=models.CampaignCreate(
        workspace_slug="no-such-workspace", name="Lost"))
    assert isinstance(elsewhere, models.Error)
    assert elsewhere.error.code == "workspace_not_found"

    invalid = create.sync_detailed(client=sdk, body=models.CampaignCreate(
        workspace_slug=tenant.slug, name="   "))
    assert invalid.status_code == 422
    assert invalid.parsed.error.code == "validation_error"
    assert "name" in invalid.parsed.error.details.to_dict()["fields"]

    draft = create.sync(client=sdk, body=models.CampaignCreate(workspace_slug=tenant.slug,
                                                               name="Draft"))
    refused = send.sync_detailed(draft.data.id, client=sdk,
                                 body=models.Send(action=models.CampaignAction.PAUSE))
    assert refused.status_code == 409
    assert refused.parsed.error.code == "invalid_transition"
    blocked = send.sync(draft.data.id, client=sdk,
                        body=models.Send(action=models.CampaignAction.START))
    assert blocked.error.code == "start_blocked"
    assert set(blocked.error.details.to_dict()["missing"]) == {
        "sequence_empty", "no_leads", "from_email_missing"}
