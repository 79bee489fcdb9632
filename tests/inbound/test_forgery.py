"""Replies and bounces cannot be forged: who sent a reply, and what a bounce really says."""
from app import database
from app.models import Message
from tests.sending.conftest import add_leads, lead_of, leads_of
from tests.sending.test_inbound import GRACE, dsn, reply, stats

UNTOUCHED = {"sent": 1, "opened": 0, "replied": 0, "clicked": 0, "bounced": 0,
             "unsubscribed": 0}


def from_(address, raw):
    """``raw`` (a reply from Grace) with another From header."""
    return raw.replace(f"From: Grace Hopper <{GRACE}>", f"From: {address}", 1)


def assert_untouched(api, campaign_id):
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "in_progress"
    assert lead["replied_at"] is None and lead["last_error"] is None
    assert stats(api, campaign_id) == UNTOUCHED


# ---- who replied -----------------------------------------------------------------------

def test_reply_from_a_stranger_quoting_our_message_id_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(from_("Mallory <mallory@evil.test>", reply(in_reply_to=message_id)))
    assert response.status_code == 200
    assert response.json["data"] == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)


def test_reply_with_the_leads_address_only_as_display_name_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = from_(f'"{GRACE}" <mallory@evil.test>', reply(in_reply_to=message_id))
    assert inbound(raw).json["data"] == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)


def test_reply_from_a_subdomain_of_the_leads_domain_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = from_("Hedy <hedy@mail.example.com>", reply(in_reply_to=message_id))
    assert inbound(raw).json["data"]["outcome"] == "ignored"
    assert_untouched(api, campaign_id)


def test_reply_naming_a_stranger_beside_the_lead_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = from_(f"{GRACE}, mallory@evil.test", reply(in_reply_to=message_id))
    assert inbound(raw).json["data"]["outcome"] == "ignored"
    assert_untouched(api, campaign_id)


def test_reply_from_the_lead_in_another_case_counts(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = from_("Grace <Grace@Example.COM>", reply(in_reply_to=message_id))
    response = inbound(raw)
    lead = lead_of(api, campaign_id, GRACE)
    assert response.json["data"] == {"outcome": "reply", "lead_id": lead["id"]}
    assert lead["status"] == "replied"
    assert stats(api, campaign_id)["replied"] == 1


def test_reply_from_a_colleague_at_the_leads_domain_counts(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = from_("Hedy Lamarr <hedy@EXAMPLE.com>", reply(in_reply_to=message_id))
    response = inbound(raw)
    lead = lead_of(api, campaign_id, GRACE)
    assert response.json["data"] == {"outcome": "reply", "lead_id": lead["id"]}
    assert lead["status"] == "replied"
    assert stats(api, campaign_id)["replied"] == 1


def test_auto_reply_from_a_stranger_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = from_("mallory@evil.test", reply(in_reply_to=message_id,
                                            extra="Auto-Submitted: auto-replied\r\n"))
    assert inbound(raw).json["data"] == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)


def test_auto_reply_from_a_colleague_is_an_auto_reply(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = from_("hedy@example.com", reply(in_reply_to=message_id,
                                           subject="Out of office: Hello Grace"))
    response = inbound(raw)
    lead = lead_of(api, campaign_id, GRACE)
    assert response.json["data"] == {"outcome": "auto_reply", "lead_id": lead["id"]}
    assert_untouched(api, campaign_id)


def test_reply_to_a_mail_the_server_refused_is_ignored(api, inbound, launch, dispatcher,
                                                       smtp_server, frozen):
    smtp_server.rcpt_replies[GRACE] = "550 5.1.1 No such user"
    campaign_id = launch(leads=[{"email": GRACE}], sequence=[{"subject": "Hi", "body": "Hi"}])
    dispatcher.run_once()
    with database.connection():
        [refused] = Message.select().where(Message.campaign == campaign_id)
    assert smtp_server.messages == []
    response = inbound(reply(in_reply_to=refused.message_id))
    assert response.json["data"] == {"outcome": "ignored", "lead_id": None}
    assert lead_of(api, campaign_id, GRACE)["replied_at"] is None
    assert stats(api, campaign_id)["replied"] == 0


# ---- which ids -------------------------------------------------------------------------

def random_token_id(campaign_id):
    """Give the campaign's one message a Message-ID of the random-token shape."""
    token = "<Zk3-q_9Xv2LmT0aBcD4eFgHi@acme.test>"
    with database.connection():
        assert Message.update(message_id=token).where(
            Message.campaign == campaign_id).execute() == 1
    return token


def test_reply_to_a_random_token_message_id_counts(api, inbound, mailed):
    campaign_id, _old_shape = mailed()
    response = inbound(reply(in_reply_to=random_token_id(campaign_id)))
    assert response.json["data"]["outcome"] == "reply"
    assert stats(api, campaign_id)["replied"] == 1


def test_bounce_notice_for_a_random_token_message_id_bounces(api, inbound, mailed):
    campaign_id, _old_shape = mailed()
    response = inbound(dsn(random_token_id(campaign_id)))
    assert response.json["data"]["outcome"] == "bounce"
    assert lead_of(api, campaign_id, GRACE)["status"] == "bounced"


# ---- what a bounce says ------------------------------------------------------------------

def forged_report(message_id):
    """A delivery report whose returned headers are of a message we never sent, with our
    Message-ID only in its human-readable text."""
    return dsn("<unknown@elsewhere.test>").replace(
        "Your message could not be delivered.",
        f"Your message could not be delivered.\r\nMessage-ID: {message_id}")


def test_report_naming_our_message_id_only_in_its_text_is_ignored(api, inbound, mailed,
                                                                  create_campaign):
    campaign_id, message_id = mailed()
    response = inbound(forged_report(message_id))
    assert response.json["data"] == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)
    other = create_campaign(name="Another")["id"]
    assert add_leads(api, other, [{"email": GRACE}])["suppressed"] == 0


def test_text_mail_that_reads_like_a_bounce_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = ("From: Mail Delivery System <MAILER-DAEMON@mx.evil.test>\r\n"
           "Subject: Undelivered Mail Returned to Sender\r\n"
           f"In-Reply-To: {message_id}\r\n"
           "Content-Type: text/plain\r\n\r\n"
           f"Final-Recipient: rfc822; {GRACE}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           f"Message-ID: {message_id}\r\n")
    assert inbound(raw).json["data"] == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)


def test_report_of_a_failure_for_another_recipient_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = dsn(message_id).replace(f"Final-Recipient: rfc822; {GRACE}",
                                  "Final-Recipient: rfc822; mallory@evil.test")
    assert inbound(raw).json["data"] == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)


def test_report_with_a_failed_action_and_a_temporary_status_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(dsn(message_id, action="failed", status="4.2.2"))
    assert response.json["data"] == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)


def test_report_with_a_permanent_status_but_a_delayed_action_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    response = inbound(dsn(message_id, action="delayed", status="5.1.1"))
    assert response.json["data"] == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)


def test_report_without_a_final_recipient_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = dsn(message_id).replace(f"Final-Recipient: rfc822; {GRACE}\r\n", "")
    assert inbound(raw).json["data"]["outcome"] == "ignored"
    assert_untouched(api, campaign_id)


def test_report_with_the_whole_returned_mail_bounces_the_lead(api, inbound, mailed,
                                                              smtp_server):
    campaign_id, message_id = mailed()
    returned = smtp_server.messages[0]["data"].decode()
    raw = dsn(message_id).replace(f"Final-Recipient: rfc822; {GRACE}",
                                  f"Final-Recipient: RFC822; <{GRACE.upper()}>")
    head, _, _headers = raw.partition("--B\r\nContent-Type: text/rfc822-headers")
    raw = f"{head}--B\r\nContent-Type: message/rfc822\r\n\r\n{returned}\r\n--B--\r\n"
    response = inbound(raw)
    lead = lead_of(api, campaign_id, GRACE)
    assert response.json["data"] == {"outcome": "bounce", "lead_id": lead["id"]}
    assert lead["status"] == "bounced"
    assert stats(api, campaign_id)["bounced"] == 1


def test_reply_from_the_leads_domain_written_in_unicode_counts(api, inbound, launch,
                                                               dispatcher, smtp_server,
                                                               frozen):
    campaign_id = launch(leads=[{"email": "grace@bücher.example"}],
                         sequence=[{"subject": "Hi", "body": "Hi"}])
    assert dispatcher.run_once().sent == 1
    [lead] = [lead["id"] for lead in leads_of(api, campaign_id)]
    raw = from_("Hedy <hedy@bücher.example>",
                reply(in_reply_to=smtp_server.parsed()[0]["Message-ID"]))
    response = inbound(raw.encode())
    assert response.json["data"] == {"outcome": "reply", "lead_id": lead}
    assert stats(api, campaign_id)["replied"] == 1


# ---- mail read from a tenant's own mailbox -----------------------------------------------

def test_mail_read_from_another_workspaces_mailbox_touches_no_lead_of_ours(
        api, mailed, other_tenant):
    # What IMAP polling does with a message found in a mailbox: its content is that
    # mailbox owner's to write, so it may only answer or bounce that workspace's mail.
    from types import SimpleNamespace

    from app.worker.loop import classify
    campaign_id, message_id = mailed()
    theirs = SimpleNamespace(id="mbx_theirs", workspace_id=other_tenant.workspace.id)

    with database.connection():
        replied = classify(reply(in_reply_to=message_id).encode(), theirs)
        bounced = classify(dsn(message_id).encode(), theirs)

    assert replied == bounced == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)


def test_relay_mail_answered_in_our_own_workspaces_mailbox_is_ignored(api, mailed, tenant):
    # Mail that went through the operator's relay was not sent from the mailbox: its
    # answers come back through the inbound route (mail sent from the mailbox counts:
    # tests/mailboxes/test_imap_matching.py).
    from types import SimpleNamespace

    from app.worker.loop import classify
    campaign_id, message_id = mailed()
    ours = SimpleNamespace(id="mbx_ours", workspace_id=tenant.workspace.id)

    with database.connection():
        outcome = classify(reply(in_reply_to=message_id).encode(), ours)

    assert outcome == {"outcome": "ignored", "lead_id": None}
    assert_untouched(api, campaign_id)
