"""POST /api/v1/inbound/email: replies, automatic replies and bounces from the provider."""
import pytest

from tests.sending.conftest import BASE, add_leads, campaign, lead_of

INBOUND = "/api/v1/inbound/email"
SECRET = "inbound-test-secret"
GRACE = "grace@example.com"
TWO_STEPS = [{"subject": "Hello {{firstName}}", "body": "Hi {{firstName}}"},
             {"subject": "", "body": "Following up", "delay": 1, "delay_unit": "days"}]


@pytest.fixture
def inbound(app, client):
    """POST a raw message the way a provider's inbound route does."""
    app.config["INBOUND_SECRET"] = SECRET

    def post(raw, *, secret=SECRET, content_type="message/rfc822"):
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return client.post(INBOUND, data=raw.encode() if isinstance(raw, str) else raw,
                           headers=headers, content_type=content_type)
    return post


@pytest.fixture
def mailed(launch, dispatcher, smtp_server, frozen):
    """Grace has had step 1 of a two-step campaign; returns (campaign id, its Message-ID)."""
    def make(**settings):
        campaign_id = launch(leads=[{"email": GRACE, "first_name": "Grace"}],
                             sequence=TWO_STEPS, settings=settings)
        assert dispatcher.run_once().sent == 1
        return campaign_id, smtp_server.to(GRACE)[0]["Message-ID"]
    return make


def reply(*, in_reply_to=None, references=None, subject="Re: Hello Grace", extra="",
          body="Sounds interesting, let's talk on Thursday."):
    threading = ""
    if in_reply_to:
        threading += f"In-Reply-To: {in_reply_to}\r\n"
    if references:
        threading += f"References: {references}\r\n"
    return (f"From: Grace Hopper <{GRACE}>\r\n"
            "To: Ada from Acme <ada@acme.test>\r\n"
            f"Subject: {subject}\r\n"
            "Date: Mon, 30 Nov 2026 11:00:00 +0000\r\n"
            "Message-ID: <reply-1@example.com>\r\n"
            f"{threading}{extra}"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            f"{body}\r\n")


def dsn(original_id, *, action="failed", status="5.1.1"):
    return ("From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
            "To: ada@acme.test\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\n"
            "Message-ID: <dsn-1@mx.example.com>\r\n"
            "Auto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
            "\r\n"
            "--B\r\n"
            "Content-Type: text/plain\r\n"
            "\r\n"
            "Your message could not be delivered.\r\n"
            "--B\r\n"
            "Content-Type: message/delivery-status\r\n"
            "\r\n"
            "Reporting-MTA: dns; mx.example.com\r\n"
            "\r\n"
            f"Final-Recipient: rfc822; {GRACE}\r\n"
            f"Action: {action}\r\n"
            f"Status: {status}\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
            "--B\r\n"
            "Content-Type: text/rfc822-headers\r\n"
            "\r\n"
            "From: Ada from Acme <ada@acme.test>\r\n"
            f"To: {GRACE}\r\n"
            "Subject: Hello Grace\r\n"
            f"Message-ID: {original_id}\r\n"
            "--B--\r\n")


def stats(api, campaign_id):
    return campaign(api, campaign_id)["stats"]


# ---- the door -----------------------------------------------------------------------------

def test_inbound_without_the_secret_is_401(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(reply(in_reply_to=message_id), secret=None)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert stats(api, campaign_id)["replied"] == 0


def test_inbound_with_a_wrong_secret_is_401(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(reply(in_reply_to=message_id), secret="guessed")
    assert response.status_code == 401
    assert stats(api, campaign_id)["replied"] == 0
    assert lead_of(api, campaign_id, GRACE)["replied_at"] is None


def test_inbound_with_an_api_key_instead_of_the_secret_is_401(api, client, inbound, mailed,
                                                              tenant):
    campaign_id, message_id = mailed()
    response = client.post(INBOUND, data=reply(in_reply_to=message_id),
                           content_type="message/rfc822", headers=tenant.headers)
    assert response.status_code == 401
    assert stats(api, campaign_id)["replied"] == 0


def test_inbound_is_401_while_no_secret_is_configured(app, client):
    app.config["INBOUND_SECRET"] = None
    response = client.post(INBOUND, data=reply(), content_type="message/rfc822",
                           headers={"Authorization": "Bearer None"})
    assert response.status_code == 401


def test_inbound_as_json_is_415(inbound):
    response = inbound('{"raw": "From: x"}', content_type="application/json")
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"


def test_inbound_as_plain_text_is_415(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(reply(in_reply_to=message_id), content_type="text/plain")
    assert response.status_code == 415
    assert stats(api, campaign_id)["replied"] == 0


# ---- replies --------------------------------------------------------------------------------

def test_reply_matched_by_in_reply_to_marks_the_lead_replied(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(reply(in_reply_to=message_id))
    assert response.status_code == 200
    lead = lead_of(api, campaign_id, GRACE)
    assert response.json["data"] == {"outcome": "reply", "lead_id": lead["id"]}
    assert lead["status"] == "replied"
    assert lead["replied_at"] == "2026-11-30T10:00:00Z"
    assert stats(api, campaign_id)["replied"] == 1


def test_reply_matched_by_references_alone_marks_the_lead_replied(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(reply(references=f"<thread-start@example.com> {message_id}"))
    assert response.json["data"]["outcome"] == "reply"
    assert lead_of(api, campaign_id, GRACE)["status"] == "replied"
    assert stats(api, campaign_id)["replied"] == 1


def test_reply_with_stop_on_reply_stops_the_sequence(api, inbound, mailed, dispatcher,
                                                     smtp_server, frozen):
    campaign_id, message_id = mailed(stop_on_reply=True)
    inbound(reply(in_reply_to=message_id))
    frozen.advance(days=2)
    assert dispatcher.run_once().sent == 0
    assert len(smtp_server.to(GRACE)) == 1
    assert lead_of(api, campaign_id, GRACE)["next_send_at"] is None
    assert campaign(api, campaign_id)["status"] == "completed"


def test_reply_without_stop_on_reply_lets_the_sequence_go_on(api, inbound, mailed, dispatcher,
                                                             smtp_server, frozen):
    campaign_id, message_id = mailed(stop_on_reply=False)
    response = inbound(reply(in_reply_to=message_id))
    assert response.json["data"]["outcome"] == "reply"
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "in_progress" and lead["replied_at"] is not None
    assert stats(api, campaign_id)["replied"] == 1
    frozen.advance(days=1)
    assert dispatcher.run_once().sent == 1
    assert [m["Subject"] for m in smtp_server.to(GRACE)] == ["Hello Grace", "Re: Hello Grace"]


def test_reply_after_the_last_step_marks_the_lead_replied(api, inbound, launch, dispatcher,
                                                         smtp_server, frozen):
    campaign_id = launch(leads=[{"email": GRACE, "first_name": "Grace"},
                                {"email": "alan@example.com"}], sequence=TWO_STEPS[:1])
    dispatcher.run_once()
    assert lead_of(api, campaign_id, GRACE)["status"] == "completed"
    frozen.advance(days=3)
    response = inbound(reply(in_reply_to=smtp_server.to(GRACE)[0]["Message-ID"]))
    assert response.json["data"]["outcome"] == "reply"
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "replied" and lead["replied_at"] == "2026-12-03T10:00:00Z"
    assert lead_of(api, campaign_id, "alan@example.com")["status"] == "completed"
    assert stats(api, campaign_id)["replied"] == 1
    replied = api.get(f"{BASE}/{campaign_id}/leads?status=replied").json["data"]
    assert [lead["email"] for lead in replied] == [GRACE]


def test_two_replies_from_one_lead_count_once(api, inbound, mailed):
    campaign_id, message_id = mailed(stop_on_reply=False)
    inbound(reply(in_reply_to=message_id))
    inbound(reply(in_reply_to=message_id, body="And one more thing."))
    assert stats(api, campaign_id)["replied"] == 1


def test_reply_to_a_follow_up_is_matched_to_the_lead(api, inbound, mailed, dispatcher,
                                                     smtp_server, frozen):
    campaign_id, first_id = mailed(stop_on_reply=False)
    frozen.advance(days=1)
    dispatcher.run_once()
    second_id = smtp_server.to(GRACE)[1]["Message-ID"]
    response = inbound(reply(in_reply_to=second_id, references=f"{first_id} {second_id}"))
    assert response.json["data"]["outcome"] == "reply"
    assert stats(api, campaign_id)["replied"] == 1


# ---- not replies ------------------------------------------------------------------------------

def test_auto_submitted_message_is_not_a_reply(api, inbound, mailed, dispatcher, smtp_server,
                                               frozen):
    campaign_id, message_id = mailed()
    response = inbound(reply(in_reply_to=message_id, subject="Re: Hello Grace",
                             extra="Auto-Submitted: auto-replied\r\n",
                             body="I am away until Monday."))
    assert response.status_code == 200
    assert response.json["data"]["outcome"] == "auto_reply"
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "in_progress" and lead["replied_at"] is None
    assert stats(api, campaign_id)["replied"] == 0
    frozen.advance(days=1)
    assert dispatcher.run_once().sent == 1


def test_out_of_office_subject_is_not_a_reply(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(reply(in_reply_to=message_id, subject="Out of Office: Hello Grace",
                             body="I am out of the office until Monday."))
    assert response.json["data"]["outcome"] == "auto_reply"
    assert lead_of(api, campaign_id, GRACE)["status"] == "in_progress"
    assert stats(api, campaign_id)["replied"] == 0


def test_automatic_reply_subject_is_not_a_reply(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(reply(in_reply_to=message_id, subject="Automatic reply: Hello Grace"))
    assert response.json["data"]["outcome"] == "auto_reply"
    assert stats(api, campaign_id)["replied"] == 0


def test_unknown_message_is_accepted_and_changes_nothing(api, inbound, mailed):
    campaign_id, _message_id = mailed()
    response = inbound(reply(subject="Hello there"))
    assert response.status_code == 200
    assert response.json["data"] == {"outcome": "ignored", "lead_id": None}
    assert lead_of(api, campaign_id, GRACE)["status"] == "in_progress"
    assert stats(api, campaign_id) == {"sent": 1, "opened": 0, "replied": 0, "clicked": 0,
                                       "bounced": 0, "unsubscribed": 0}


def test_reply_to_a_message_we_never_sent_is_ignored(api, inbound, mailed):
    campaign_id, _message_id = mailed()
    response = inbound(reply(in_reply_to="<msg_01jd3v0m4h8x3q2w9e7r6t5y4u@acme.test>"))
    assert response.json["data"] == {"outcome": "ignored", "lead_id": None}
    assert stats(api, campaign_id)["replied"] == 0


def test_garbage_body_is_accepted_and_ignored(inbound):
    response = inbound(b"\x00\xff not a mail at all")
    assert response.status_code == 200
    assert response.json["data"]["outcome"] == "ignored"


# ---- bounces ----------------------------------------------------------------------------------

def test_permanent_failure_notice_marks_the_lead_bounced(api, inbound, mailed, dispatcher,
                                                         smtp_server, frozen):
    campaign_id, message_id = mailed()
    response = inbound(dsn(message_id))
    assert response.status_code == 200
    lead = lead_of(api, campaign_id, GRACE)
    assert response.json["data"] == {"outcome": "bounce", "lead_id": lead["id"]}
    assert lead["status"] == "bounced"
    assert stats(api, campaign_id)["bounced"] == 1
    frozen.advance(days=2)
    assert dispatcher.run_once().sent == 0
    assert len(smtp_server.to(GRACE)) == 1


def test_bounce_notice_suppresses_the_address_for_the_workspace(api, inbound, mailed,
                                                                create_campaign):
    _campaign_id, message_id = mailed()
    inbound(dsn(message_id))
    other = create_campaign(name="Another")["id"]
    assert add_leads(api, other, [{"email": GRACE}])["suppressed"] == 1


def test_bounce_notice_after_the_last_step_marks_the_lead_bounced(api, inbound, launch,
                                                                  dispatcher, smtp_server,
                                                                  frozen):
    campaign_id = launch(leads=[{"email": GRACE, "first_name": "Grace"}],
                         sequence=TWO_STEPS[:1])
    dispatcher.run_once()
    assert lead_of(api, campaign_id, GRACE)["status"] == "completed"
    response = inbound(dsn(smtp_server.to(GRACE)[0]["Message-ID"]))
    assert response.json["data"]["outcome"] == "bounce"
    assert lead_of(api, campaign_id, GRACE)["status"] == "bounced"
    assert stats(api, campaign_id)["bounced"] == 1


def test_delay_notice_changes_nothing(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(dsn(message_id, action="delayed", status="4.4.7"))
    assert response.status_code == 200
    assert response.json["data"]["outcome"] == "ignored"
    assert lead_of(api, campaign_id, GRACE)["status"] == "in_progress"
    assert stats(api, campaign_id)["bounced"] == 0


def test_bounce_notice_for_a_message_we_never_sent_changes_nothing(api, inbound, mailed):
    campaign_id, _message_id = mailed()
    response = inbound(dsn("<msg_01jd3v0m4h8x3q2w9e7r6t5y4u@acme.test>"))
    assert response.json["data"] == {"outcome": "ignored", "lead_id": None}
    assert lead_of(api, campaign_id, GRACE)["status"] == "in_progress"
