"""GET /campaigns/{id}/leads/{lead_id}: a lead with its messages and its times."""
from tests.activity.conftest import GRACE, LEADS, ONE_STEP
from tests.conftest import BASE
from tests.sending.conftest import html_of, links_in, path_of
from tests.sending.test_inbound import TWO_STEPS, reply


def lead_url(api, campaign_id, email=GRACE):
    [lead] = [lead for lead in api.get(f"{BASE}/{campaign_id}/leads").json["data"]
              if lead["email"] == email]
    return f"{BASE}/{campaign_id}/leads/{lead['id']}"


def detail(api, url):
    response = api.get(url)
    assert response.status_code == 200, response.json
    return response.json["data"]


def test_a_lead_shows_each_message_it_was_sent(api, launch, worker, smtp_server, frozen):
    campaign_id = launch(leads=LEADS[:1], sequence=TWO_STEPS)
    worker.run_once()
    frozen.advance(days=1, seconds=1)
    worker.run_once()
    lead = detail(api, lead_url(api, campaign_id))
    assert lead["email"] == GRACE
    assert lead["status"] == "completed"
    assert lead["finished_at"] is not None
    assert [(m["step"], m["subject"], m["status"], m["error"]) for m in lead["messages"]] == [
        (1, "Hello Grace", "sent", None), (2, "Re: Hello Grace", "sent", None)]
    assert all(m["sent_at"] and m["id"].startswith("msg_") for m in lead["messages"])


def test_a_lead_not_yet_mailed_has_no_messages(api, launch):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    lead = detail(api, lead_url(api, campaign_id))
    assert lead["messages"] == []
    assert (lead["opened_at"], lead["clicked_at"], lead["replied_at"]) == (None, None, None)


def test_a_refused_message_shows_its_error(api, launch, worker, smtp_server, frozen):
    smtp_server.rcpt_replies[GRACE] = "550 5.1.1 No such user"
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    worker.run_once()
    lead = detail(api, lead_url(api, campaign_id))
    assert lead["status"] == "bounced"
    [message] = lead["messages"]
    assert message["status"] == "bounced"
    assert "No such user" in message["error"]
    assert message["sent_at"] is None


def test_a_lead_shows_its_open_click_and_reply_times(app, api, client, launch, worker,
                                                    smtp_server, inbound, frozen):
    step = {"subject": "Hello", "body": "Prices: https://example.com/pricing"}
    campaign_id = launch(leads=LEADS[:1], sequence=[step], settings={"track_clicks": True})
    worker.run_once()
    [mail] = smtp_server.to(GRACE)
    [link] = links_in(html_of(mail), "/t/c/")
    assert client.get(path_of(link, app.config["BASE_URL"])).status_code == 302
    inbound(reply(in_reply_to=mail["Message-ID"], subject="Re: Hello"))
    lead = detail(api, lead_url(api, campaign_id))
    assert lead["opened_at"] and lead["clicked_at"] and lead["replied_at"]


def test_a_lead_of_another_campaign_is_404(api, launch):
    first = launch(leads=LEADS[:1], sequence=ONE_STEP)
    second = launch(leads=LEADS[:1], sequence=ONE_STEP)
    lead_id = lead_url(api, first).rsplit("/", 1)[1]
    response = api.get(f"{BASE}/{second}/leads/{lead_id}")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "lead_not_found"


def test_another_tenants_lead_is_404(api, client, other_tenant, launch):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    response = client.get(lead_url(api, campaign_id), headers=other_tenant.headers)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "campaign_not_found"
