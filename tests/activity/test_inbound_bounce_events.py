"""A bounce read from inbound mail (a delivery status notification) is reported as a
refusal at send time is: the message turns bounced and message.bounced is emitted once."""
from tests.activity.conftest import GRACE, LEADS, ONE_STEP
from tests.activity.test_campaign_events import events
from tests.activity.test_lead_detail import detail, lead_url
from tests.sending.test_inbound import dsn


def test_a_bounce_notice_emits_message_bounced_for_the_mail_it_returns(
        api, launch, worker, smtp_server, inbound, frozen):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    worker.run_once()
    assert inbound(dsn(smtp_server.to(GRACE)[0]["Message-ID"])).json["data"]["outcome"] \
        == "bounce"
    lead = detail(api, lead_url(api, campaign_id))
    [message] = lead["messages"]
    assert (message["status"], message["error"]) == (
        "bounced", "bounced (delivery status notification)")
    [bounced] = events(api, campaign_id, "?type=message.bounced")["data"]
    assert (bounced["lead_id"], bounced["message_id"], bounced["step"]) == (
        lead["id"], message["id"], 1)
    assert bounced["data"]["error"] == "bounced (delivery status notification)"


def test_a_second_notice_for_the_same_mail_emits_nothing_more(api, launch, worker,
                                                             smtp_server, inbound, frozen):
    campaign_id = launch(leads=LEADS[:1], sequence=ONE_STEP)
    worker.run_once()
    notice = dsn(smtp_server.to(GRACE)[0]["Message-ID"])
    inbound(notice)
    inbound(notice)
    assert len(events(api, campaign_id, "?type=message.bounced")["data"]) == 1


def test_a_bounce_at_send_time_and_one_by_notice_emit_the_same_event(
        api, launch, worker, smtp_server, inbound, frozen):
    smtp_server.rcpt_replies[GRACE] = "550 5.1.1 No such user"
    refused = launch(leads=LEADS[:1], sequence=ONE_STEP)
    worker.run_once()
    [at_send] = events(api, refused, "?type=message.bounced")["data"]
    assert sorted(at_send["data"]) == ["campaign_id", "email", "error", "lead_id",
                                       "message_id", "step"]
    del smtp_server.rcpt_replies[GRACE]
    returned = launch(leads=[{"email": "alan@example.com"}], sequence=ONE_STEP)
    worker.run_once()
    inbound(dsn(smtp_server.to("alan@example.com")[0]["Message-ID"]).replace(
        GRACE, "alan@example.com"))
    [by_notice] = events(api, returned, "?type=message.bounced")["data"]
    assert sorted(by_notice["data"]) == sorted(at_send["data"])
