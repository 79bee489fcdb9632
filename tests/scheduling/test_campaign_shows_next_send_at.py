"""The campaign shows when its next mail is due: ``next_send_at``, read-only."""
import datetime as dt

from tests.conftest import BASE, STEP
from tests.sending.conftest import act, add_leads, campaign, iso

WEEKDAYS_9_TO_5 = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00",
                   "end": "17:00"}


def test_a_draft_has_no_next_send_at(api, create_campaign):
    created = create_campaign()
    assert created["next_send_at"] is None
    assert campaign(api, created["id"])["next_send_at"] is None


def test_a_started_campaign_is_due_now_and_a_paused_one_not_at_all(api, launch, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=[STEP])
    assert campaign(api, campaign_id)["next_send_at"] == iso(frozen.now())

    act(api, campaign_id, "pause")
    assert campaign(api, campaign_id)["next_send_at"] is None
    frozen.advance(minutes=5)
    act(api, campaign_id, "resume")
    assert campaign(api, campaign_id)["next_send_at"] == iso(frozen.now())


def test_after_a_pass_at_night_it_shows_the_next_opening(api, launch, dispatcher, frozen):
    # Monday 10:00 UTC is 19:00 in Tokyo: the window opens Tuesday 09:00 there.
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=[STEP],
                         settings={"timezone": "Asia/Tokyo", "schedule": WEEKDAYS_9_TO_5})
    dispatcher.run_once()
    assert campaign(api, campaign_id)["next_send_at"] == iso(dt.datetime(2026, 12, 1, 0, 0))


def test_after_its_last_mail_is_sent_nothing_is_due(api, launch, dispatcher, frozen,
                                                    smtp_server):
    campaign_id = launch(leads=[{"email": "a@example.com"}],
                         sequence=[STEP, {"subject": "", "body": "Again", "delay": 2,
                                          "delay_unit": "days"}])
    dispatcher.run_once()
    assert len(smtp_server.messages) == 1
    # Step 2 is due in two days: so is the campaign.
    assert campaign(api, campaign_id)["next_send_at"] == iso(frozen.now() + dt.timedelta(days=2))
    frozen.advance(days=2)
    dispatcher.run_once()
    body = campaign(api, campaign_id)
    assert (body["status"], body["next_send_at"]) == ("completed", None)


def test_adding_leads_to_an_idle_campaign_brings_its_visit_forward(api, launch, dispatcher,
                                                                   frozen, smtp_server):
    campaign_id = launch(leads=[{"email": "a@example.com"}],
                         sequence=[STEP, {"subject": "", "body": "Again", "delay": 2,
                                          "delay_unit": "days"}])
    dispatcher.run_once()
    frozen.advance(minutes=1)
    add_leads(api, campaign_id, [{"email": "b@example.com"}])
    assert campaign(api, campaign_id)["next_send_at"] == iso(frozen.now())
    dispatcher.run_once()
    assert len(smtp_server.to("b@example.com")) == 1


def test_next_send_at_cannot_be_written(api, create_campaign):
    created = create_campaign()
    response = api.patch(f"{BASE}/{created['id']}", json={"next_send_at": "2030-01-01T00:00:00Z"})
    assert response.status_code == 422, response.json
    assert campaign(api, created["id"])["next_send_at"] is None


def test_the_openapi_document_describes_next_send_at(client):
    spec = client.get("/api/v1/openapi.json").json
    field = spec["components"]["schemas"]["CampaignDetail"]["properties"]["next_send_at"]
    assert field["readOnly"] is True
    assert "null when nothing is scheduled" in field["description"]
    assert "next mail is due" in field["description"]
