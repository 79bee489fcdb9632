"""Adding a suppression ends the workspace's matching open leads at once; adding leads
and the dispatcher's claims skip what is suppressed, by address or by domain."""
import json

from app import clock
from app.models import Lead, Message, Suppression
from app.services import webhook_delivery
from app.worker.loop import Summary
from tests.activity.test_campaign_events import events
from tests.conftest import BASE
from tests.suppressions.test_suppressions_api import URL, add

ONE_STEP = [{"subject": "Hello {{firstName}}", "body": "Hi {{firstName}}"}]
GRACE = "grace@acme.com"


def statuses(campaign_id):
    return {lead.email: lead.status for lead in Lead.select().where(Lead.campaign == campaign_id)}


def test_an_address_ends_its_open_leads_in_every_campaign_of_the_workspace(
        api, tenant, launch, client, other_tenant):
    active = launch(leads=[{"email": GRACE}, {"email": "alan@acme.org"}], sequence=ONE_STEP)
    draft = launch(leads=[{"email": GRACE}], sequence=ONE_STEP, start=False)
    theirs = client.post(BASE, headers=other_tenant.headers, json={
        "workspace_slug": other_tenant.slug, "name": "Theirs"}).json["data"]["id"]
    client.post(f"{BASE}/{theirs}/leads", headers=other_tenant.headers,
                json={"leads": [{"email": GRACE}]})
    assert add(api, tenant.slug, [{"value": GRACE}])["leads_ended"] == 2
    assert statuses(active) == {GRACE: "suppressed", "alan@acme.org": "pending"}
    assert statuses(draft) == {GRACE: "suppressed"}
    assert statuses(theirs) == {GRACE: "pending"}
    ended = Lead.get((Lead.campaign == active) & (Lead.email == GRACE))
    assert ended.finished_at is not None and ended.next_send_at is None


def test_a_domain_ends_its_addresses_and_no_other_domain(api, tenant, launch):
    emails = [GRACE, "alan@sub.acme.com", "bob@notacme.com", "eve@acme.com.evil.org",
              "ann@acme.co"]
    campaign_id = launch(leads=[{"email": e} for e in emails], sequence=ONE_STEP)
    assert add(api, tenant.slug, [{"value": "ACME.com"}])["leads_ended"] == 1
    assert statuses(campaign_id) == {GRACE: "suppressed", "alan@sub.acme.com": "pending",
                                     "bob@notacme.com": "pending",
                                     "eve@acme.com.evil.org": "pending",
                                     "ann@acme.co": "pending"}


def test_an_international_domain_ends_the_leads_at_it(api, tenant, launch):
    campaign_id = launch(leads=[{"email": "anna@bücher.example"}], sequence=ONE_STEP)
    assert add(api, tenant.slug, [{"value": "Bücher.example"}])["leads_ended"] == 1
    assert statuses(campaign_id) == {"anna@xn--bcher-kva.example": "suppressed"}


def test_a_finished_lead_keeps_its_status(api, tenant, launch, worker, frozen):
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    worker.run_once()
    assert add(api, tenant.slug, [{"value": "acme.com"}])["leads_ended"] == 0
    assert statuses(campaign_id) == {GRACE: "completed"}


def test_each_ended_lead_is_a_lead_suppressed_event(api, tenant, launch, receiver,
                                                    create_webhook, frozen):
    receiver.secret = create_webhook(receiver.url, events=["lead.suppressed"])["secret"]
    campaign_id = launch(leads=[{"email": GRACE}, {"email": "b@acme.com"}],
                         sequence=ONE_STEP)
    add(api, tenant.slug, [{"value": "acme.com"}])
    logged = events(api, campaign_id, "?type=lead.suppressed")["data"]
    assert sorted(e["data"]["email"] for e in logged) == ["b@acme.com", GRACE]
    webhook_delivery.deliver_due(allow_http=True, allow_private=True)
    got = [json.loads(r["body"]) for r in receiver.requests]
    assert all(isinstance(r["verified"], dict) for r in receiver.requests)
    assert sorted(g["data"]["lead_id"] for g in got) == sorted(e["lead_id"] for e in logged)
    assert {g["data"]["workspace_slug"] for g in got} == {tenant.slug}


def test_suppressing_the_last_open_lead_completes_the_campaign(api, tenant, launch):
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    add(api, tenant.slug, [{"value": GRACE}])
    campaign = api.get(f"{BASE}/{campaign_id}").json["data"]
    assert campaign["status"] == "completed"
    assert campaign["stats"]["unsubscribed"] == 0


def test_a_suppressed_lead_gets_no_mail_and_deleting_the_suppression_reopens_nothing(
        api, tenant, launch, worker, smtp_server, frozen):
    campaign_id = launch(leads=[{"email": GRACE}, {"email": "alan@acme.org"}],
                         sequence=ONE_STEP)
    add(api, tenant.slug, [{"value": "acme.com"}])
    assert api.delete(f"{URL}?workspace={tenant.slug}&value=acme.com").status_code == 200
    assert worker.run_once().sent == 1
    assert smtp_server.to(GRACE) == []
    assert statuses(campaign_id)[GRACE] == "suppressed"


def test_a_mail_claimed_but_not_yet_sending_is_dropped(api, tenant, launch, worker,
                                                       smtp_server, frozen):
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP)
    batch = worker.claim(campaign_id, clock.now())
    assert len(batch.claims) == 1
    add(api, tenant.slug, [{"value": GRACE}])
    summary = Summary()
    worker.deliver_all(batch.claims, summary)
    assert (summary.sent, summary.released) == (0, 1)
    assert smtp_server.messages == []
    assert Message.select().count() == 0


def test_adding_leads_skips_a_suppressed_domain(api, tenant, launch):
    add(api, tenant.slug, [{"value": "acme.com"}])
    campaign_id = launch(leads=[{"email": GRACE}], sequence=ONE_STEP, start=False)
    response = api.post(f"{BASE}/{campaign_id}/leads", json={
        "leads": [{"email": "b@acme.com"}, {"email": "c@acme.org"}]})
    assert response.json["data"]["suppressed"] == 1
    assert response.json["data"]["added"] == 1


def test_the_dispatcher_skips_a_domain_suppressed_after_the_lead_was_due(
        api, tenant, launch, worker, smtp_server, frozen):
    campaign_id = launch(leads=[{"email": GRACE}, {"email": "alan@acme.org"}],
                         sequence=ONE_STEP)
    # Written straight to the table, as a concurrent writer's row would be: the ending
    # of leads at add time is not what stops this mail.
    Suppression.create(workspace=tenant.workspace.id, email="acme.com", kind="domain",
                       reason="api")
    assert worker.run_once().sent == 1
    assert smtp_server.to(GRACE) == []
    assert statuses(campaign_id)[GRACE] == "suppressed"
    assert [e["data"]["email"] for e in
            events(api, campaign_id, "?type=lead.suppressed")["data"]] == [GRACE]
