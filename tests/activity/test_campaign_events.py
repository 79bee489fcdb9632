"""GET /campaigns/{id}/events: the campaign's activity log, newest first, by cursor."""
import json

from app.models import ActivityEvent
from app.services import webhook_delivery
from tests.activity.conftest import ALAN, GRACE, LEADS, ONE_STEP
from tests.conftest import BASE

SENT_TYPES = ["campaign.completed", "campaign.started", "lead.completed", "lead.completed",
              "message.sent", "message.sent"]


def events(api, campaign_id, query=""):
    response = api.get(f"{BASE}/{campaign_id}/events{query}")
    assert response.status_code == 200, response.json
    return response.json


def sent_campaign(launch, worker, leads=LEADS):
    campaign_id = launch(leads=leads, sequence=ONE_STEP)
    assert worker.run_once().sent == len(leads)
    return campaign_id


def test_a_sent_campaign_logs_its_events_without_any_webhook(api, launch, worker, frozen):
    campaign_id = sent_campaign(launch, worker)
    body = events(api, campaign_id)
    assert sorted(e["type"] for e in body["data"]) == SENT_TYPES
    assert body["pagination"] == {"limit": 20, "has_more": False, "next_cursor": None}


def test_events_come_newest_first(api, launch, worker, frozen):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    frozen.advance(seconds=5)
    worker.run_once()
    data = events(api, campaign_id)["data"]
    assert data[-1]["type"] == "campaign.started"
    stamps = [(e["created_at"], e["id"]) for e in data]
    assert stamps == sorted(stamps, reverse=True)


def test_a_message_event_names_its_lead_message_and_step(api, launch, worker, frozen):
    campaign_id = sent_campaign(launch, worker, LEADS[:1])
    [sent] = events(api, campaign_id, "?type=message.sent")["data"]
    lead = api.get(f"{BASE}/{campaign_id}/leads").json["data"][0]
    assert sent["lead_id"] == lead["id"]
    assert sent["step"] == 1
    assert sent["message_id"].startswith("msg_")
    assert sent["data"]["email"] == GRACE
    assert sent["data"]["campaign_id"] == campaign_id
    assert "workspace_slug" not in sent["data"]


def test_a_campaign_event_has_no_lead(api, launch, worker, frozen):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    [started] = events(api, campaign_id)["data"]
    assert started["type"] == "campaign.started"
    assert (started["lead_id"], started["message_id"], started["step"]) == (None, None, None)


def test_the_cursor_walks_every_event_once(api, launch, worker, frozen):
    campaign_id = sent_campaign(launch, worker)
    seen, query = [], "?limit=2"
    while True:
        body = events(api, campaign_id, query)
        seen += [e["id"] for e in body["data"]]
        if not body["pagination"]["has_more"]:
            break
        assert body["pagination"]["next_cursor"] == body["data"][-1]["id"]
        query = f"?limit=2&starting_after={body['pagination']['next_cursor']}"
    assert len(seen) == len(set(seen)) == len(SENT_TYPES)
    assert seen == [e["id"] for e in events(api, campaign_id, "?limit=100")["data"]]


def test_filters_by_type_and_by_lead(api, launch, worker, frozen):
    campaign_id = sent_campaign(launch, worker)
    leads = {lead["email"]: lead["id"]
             for lead in api.get(f"{BASE}/{campaign_id}/leads").json["data"]}
    alan = events(api, campaign_id, f"?lead_id={leads[ALAN]}")["data"]
    assert sorted(e["type"] for e in alan) == ["lead.completed", "message.sent"]
    assert {e["lead_id"] for e in alan} == {leads[ALAN]}
    assert len(events(api, campaign_id, "?type=lead.completed")["data"]) == 2


def test_an_unknown_cursor_is_422(api, launch):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    response = api.get(f"{BASE}/{campaign_id}/events?starting_after=evt_nope")
    assert response.status_code == 422
    assert "starting_after" in response.json["error"]["details"]["fields"]


def test_a_cursor_from_another_campaign_is_422(api, launch):
    first = launch(leads=LEADS[:1], sequence=ONE_STEP)
    second = launch(leads=LEADS[:1], sequence=ONE_STEP)
    other_id = events(api, first)["data"][0]["id"]
    response = api.get(f"{BASE}/{second}/events?starting_after={other_id}")
    assert response.status_code == 422


def test_an_unknown_type_is_422(api, launch):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    assert api.get(f"{BASE}/{campaign_id}/events?type=lead.exploded").status_code == 422


def test_a_limit_over_100_is_422(api, launch):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    assert api.get(f"{BASE}/{campaign_id}/events?limit=101").status_code == 422


def test_another_tenants_campaign_events_are_404(client, other_tenant, launch):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    response = client.get(f"{BASE}/{campaign_id}/events", headers=other_tenant.headers)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "campaign_not_found"


def test_an_event_id_is_the_webhook_id_of_its_delivery(api, launch, worker, receiver,
                                                      create_webhook, frozen):
    receiver.secret = create_webhook(receiver.url)["secret"]
    campaign_id = sent_campaign(launch, worker, LEADS[:1])
    webhook_delivery.deliver_due(allow_http=True, allow_private=True)
    delivered = {r["headers"]["webhook-id"]: json.loads(r["body"])["type"]
                 for r in receiver.requests}
    logged = {e["id"]: e["type"] for e in events(api, campaign_id)["data"]}
    assert delivered == logged


def test_deleting_a_campaign_deletes_its_log(api, launch, worker, frozen):
    campaign_id = sent_campaign(launch, worker, LEADS[:1])
    assert ActivityEvent.select().where(ActivityEvent.campaign_id == campaign_id).exists()
    assert api.delete(f"{BASE}/{campaign_id}").status_code == 200
    assert not ActivityEvent.select().where(ActivityEvent.campaign_id == campaign_id).exists()


def test_the_log_outlives_a_removed_lead(api, launch, worker, frozen):
    campaign_id = launch(leads=LEADS, sequence=ONE_STEP)
    worker.run_once()
    lead = api.get(f"{BASE}/{campaign_id}/leads").json["data"][0]
    assert api.delete(f"{BASE}/{campaign_id}/leads/{lead['id']}").status_code == 200
    logged = events(api, campaign_id, f"?lead_id={lead['id']}")["data"]
    assert sorted(e["type"] for e in logged) == ["lead.completed", "message.sent"]
