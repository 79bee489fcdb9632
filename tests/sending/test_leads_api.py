"""/api/v1/tenant/campaigns/{id}/leads: add in bulk, list, remove; and what start needs."""
from tests.conftest import BASE, SENDER, STEP
from tests.sending.conftest import (
    MONDAY_10,
    act,
    add_leads,
    campaign,
    iso,
    lead_of,
    leads_of,
    text_of,
)

ONE_STEP = [{"subject": "Hello {{firstName}}", "body": "Hi {{firstName}}"}]
TWO_STEPS = [{"subject": "Hello {{firstName}}", "body": "Hi {{firstName}}"},
             {"subject": "", "body": "Following up", "delay": 1, "delay_unit": "days"}]


def leads_url(campaign_id):
    return f"{BASE}/{campaign_id}/leads"


def emails(api, campaign_id):
    return sorted(lead["email"] for lead in leads_of(api, campaign_id))


# ---- adding ---------------------------------------------------------------------------

def test_bulk_add_reports_how_many_were_added(api, create_campaign):
    campaign_id = create_campaign()["id"]
    response = api.post(leads_url(campaign_id), json={"leads": [
        {"email": "a@example.com", "first_name": "Ann"}, {"email": "b@example.com"}]})
    assert response.status_code == 200
    data = response.json["data"]
    assert (data["added"], data["duplicates"], data["invalid"]) == (2, 0, [])
    assert len(data["ids"]) == 2 and all(i.startswith("lead_") for i in data["ids"])
    assert emails(api, campaign_id) == ["a@example.com", "b@example.com"]


def test_same_address_twice_in_one_call_is_one_lead_and_one_duplicate(api, create_campaign):
    campaign_id = create_campaign()["id"]
    data = add_leads(api, campaign_id, [{"email": "a@example.com"}, {"email": "b@example.com"},
                                        {"email": "A@Example.COM"}])
    assert (data["added"], data["duplicates"]) == (2, 1)
    assert emails(api, campaign_id) == ["a@example.com", "b@example.com"]


def test_address_already_in_the_campaign_is_a_duplicate(api, create_campaign):
    campaign_id = create_campaign()["id"]
    add_leads(api, campaign_id, [{"email": "a@example.com", "first_name": "Ann"}])
    data = add_leads(api, campaign_id, [{"email": "a@example.com", "first_name": "Other"},
                                        {"email": "c@example.com"}])
    assert (data["added"], data["duplicates"]) == (1, 1)
    assert emails(api, campaign_id) == ["a@example.com", "c@example.com"]
    assert lead_of(api, campaign_id, "a@example.com")["first_name"] == "Ann"


def test_invalid_leads_are_listed_by_index_and_reason_while_valid_ones_are_added(
        api, create_campaign):
    campaign_id = create_campaign()["id"]
    response = api.post(leads_url(campaign_id), json={"leads": [
        {"email": "ok1@example.com"},
        {"email": "not-an-address"},
        {"first_name": "Nobody"},
        {"email": "ok2@example.com", "custom_fields": {"1st": "x"}},
        {"email": "ok3@example.com", "first_name": "Line\nbreak"},
        {"email": "ok4@example.com"},
    ]})
    assert response.status_code == 200
    data = response.json["data"]
    assert data["added"] == 2
    invalid = {item["index"]: item for item in data["invalid"]}
    assert sorted(invalid) == [1, 2, 3, 4]
    assert invalid[1]["email"] == "not-an-address" and "email" in invalid[1]["errors"]
    assert invalid[2]["email"] is None and "email" in invalid[2]["errors"]
    assert "custom_fields" in invalid[3]["errors"]
    assert "first_name" in invalid[4]["errors"]
    assert emails(api, campaign_id) == ["ok1@example.com", "ok4@example.com"]


def test_address_with_non_ascii_before_the_at_is_invalid(api, create_campaign):
    campaign_id = create_campaign()["id"]
    response = api.post(leads_url(campaign_id), json={"leads": [
        {"email": "josé@example.com"}, {"email": "jose@example.com"}]})
    data = response.json["data"]
    assert data["added"] == 1
    [invalid] = data["invalid"]
    assert invalid["index"] == 0 and "email" in invalid["errors"]
    assert emails(api, campaign_id) == ["jose@example.com"]


def test_address_with_an_international_domain_is_kept_in_its_ascii_form(api, create_campaign):
    campaign_id = create_campaign()["id"]
    data = add_leads(api, campaign_id, [{"email": "grace@exämple.com"},
                                        {"email": "Grace@xn--exmple-cua.com"}])
    assert (data["added"], data["duplicates"], data["invalid"]) == (1, 1, [])
    assert emails(api, campaign_id) == ["grace@xn--exmple-cua.com"]


def test_one_thousand_leads_are_added_in_one_call(api, create_campaign):
    campaign_id = create_campaign()["id"]
    leads = [{"email": f"lead{i}@example.com"} for i in range(1000)]
    data = add_leads(api, campaign_id, leads)
    assert (data["added"], data["duplicates"], data["invalid"]) == (1000, 0, [])
    listed = api.get(f"{leads_url(campaign_id)}?limit=1")
    assert listed.json["pagination"]["total"] == 1000


def test_more_than_one_thousand_leads_is_422_and_adds_none(api, create_campaign):
    campaign_id = create_campaign()["id"]
    leads = [{"email": f"lead{i}@example.com"} for i in range(1001)]
    response = api.post(leads_url(campaign_id), json={"leads": leads})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "leads" in response.json["error"]["details"]["fields"]
    assert leads_of(api, campaign_id) == []


def test_adding_leads_to_a_completed_campaign_is_409(api, launch, dispatcher, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=ONE_STEP)
    dispatcher.run_once()
    assert campaign(api, campaign_id)["status"] == "completed"
    response = api.post(leads_url(campaign_id), json={"leads": [{"email": "b@example.com"}]})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "campaign_completed"
    assert emails(api, campaign_id) == ["a@example.com"]


def test_leads_added_to_an_active_campaign_are_mailed(api, launch, dispatcher, smtp_server,
                                                      frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=TWO_STEPS)
    dispatcher.run_once()
    add_leads(api, campaign_id, [{"email": "late@example.com", "first_name": "Late"}])
    assert dispatcher.run_once().sent == 1
    assert [m["Subject"] for m in smtp_server.to("late@example.com")] == ["Hello Late"]


# ---- listing --------------------------------------------------------------------------

def test_list_shows_each_leads_sending_state(api, launch, dispatcher, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}], sequence=TWO_STEPS)
    before = lead_of(api, campaign_id, "a@example.com")
    assert before["status"] == "pending" and before["current_step"] == 0
    assert before["next_send_at"] == iso(MONDAY_10) and before["last_sent_at"] is None
    dispatcher.run_once()
    after = lead_of(api, campaign_id, "a@example.com")
    assert after["status"] == "in_progress" and after["current_step"] == 1
    assert after["last_sent_at"] == iso(MONDAY_10)
    assert after["next_send_at"] == "2026-12-01T10:00:00Z"


def test_list_filters_by_status(api, launch, dispatcher, smtp_server, frozen):
    smtp_server.rcpt_replies["bad@example.com"] = "550 5.1.1 No such user"
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "bad@example.com"},
                                {"email": "c@example.com"}], sequence=TWO_STEPS)
    dispatcher.run_once()
    response = api.get(f"{leads_url(campaign_id)}?status=bounced")
    assert response.status_code == 200
    assert [lead["email"] for lead in response.json["data"]] == ["bad@example.com"]
    assert response.json["pagination"]["total"] == 1
    in_progress = api.get(f"{leads_url(campaign_id)}?status=in_progress").json
    assert sorted(lead["email"] for lead in in_progress["data"]) == ["a@example.com",
                                                                    "c@example.com"]
    assert api.get(f"{leads_url(campaign_id)}?status=pending").json["data"] == []


def test_list_with_an_unknown_status_is_422(api, create_campaign):
    campaign_id = create_campaign()["id"]
    response = api.get(f"{leads_url(campaign_id)}?status=sleeping")
    assert response.status_code == 422
    assert "status" in response.json["error"]["details"]["fields"]


def test_list_pages_with_limit_and_offset(api, create_campaign):
    campaign_id = create_campaign()["id"]
    for i in range(5):  # one call each, so creation order is certain
        add_leads(api, campaign_id, [{"email": f"lead{i}@example.com"}])
    first = api.get(f"{leads_url(campaign_id)}?limit=2").json
    assert [lead["email"] for lead in first["data"]] == ["lead0@example.com",
                                                         "lead1@example.com"]
    assert first["pagination"] == {"total": 5, "limit": 2, "offset": 0, "has_more": True}
    last = api.get(f"{leads_url(campaign_id)}?limit=2&offset=4").json
    assert [lead["email"] for lead in last["data"]] == ["lead4@example.com"]
    assert last["pagination"] == {"total": 5, "limit": 2, "offset": 4, "has_more": False}


# ---- removing -------------------------------------------------------------------------

def test_delete_removes_the_lead(api, create_campaign):
    campaign_id = create_campaign()["id"]
    data = add_leads(api, campaign_id, [{"email": "a@example.com"}, {"email": "b@example.com"}])
    lead_id = lead_of(api, campaign_id, "a@example.com")["id"]
    assert lead_id in data["ids"]
    response = api.delete(f"{leads_url(campaign_id)}/{lead_id}")
    assert response.status_code == 200
    assert response.json["data"] == {"id": lead_id, "deleted": True}
    assert emails(api, campaign_id) == ["b@example.com"]


def test_deleted_lead_is_sent_nothing_more(api, launch, dispatcher, smtp_server, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=TWO_STEPS)
    dispatcher.run_once()
    lead_id = lead_of(api, campaign_id, "a@example.com")["id"]
    assert api.delete(f"{leads_url(campaign_id)}/{lead_id}").status_code == 200
    frozen.advance(days=2)
    assert dispatcher.run_once().sent == 1
    assert len(smtp_server.to("a@example.com")) == 1
    assert len(smtp_server.to("b@example.com")) == 2


def test_lead_deleted_while_its_batch_is_being_sent_is_not_mailed(api, launch, dispatcher,
                                                                 smtp_server, frozen):
    campaign_id = launch(leads=[{"email": "a@example.com"}, {"email": "b@example.com"}],
                         sequence=TWO_STEPS)
    deleted = []

    def delete_the_other(envelope):
        if not deleted:
            [other] = {"a@example.com", "b@example.com"} - set(envelope.rcpt_tos)
            lead_id = lead_of(api, campaign_id, other)["id"]
            deleted.append((other, api.delete(f"{leads_url(campaign_id)}/{lead_id}")
                            .status_code))
    smtp_server.on_data = delete_the_other
    summary = dispatcher.run_once()
    [(other, status)] = deleted
    assert status == 200
    assert (summary.sent, summary.released) == (1, 1)
    assert smtp_server.to(other) == []
    assert len(smtp_server.messages) == 1
    assert other not in emails(api, campaign_id)


def test_deleting_an_unknown_lead_is_404(api, create_campaign):
    campaign_id = create_campaign()["id"]
    response = api.delete(f"{leads_url(campaign_id)}/lead_nope")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "lead_not_found"


def test_deleting_a_lead_through_another_campaign_is_404(api, create_campaign):
    first, second = create_campaign(name="One")["id"], create_campaign(name="Two")["id"]
    add_leads(api, first, [{"email": "a@example.com"}])
    lead_id = lead_of(api, first, "a@example.com")["id"]
    response = api.delete(f"{leads_url(second)}/{lead_id}")
    assert response.status_code == 404
    assert emails(api, first) == ["a@example.com"]


def test_leads_of_another_tenants_campaign_are_404(api, client, create_campaign,
                                                    other_tenant):
    campaign_id = create_campaign()["id"]
    add_leads(api, campaign_id, [{"email": "a@example.com"}])
    lead_id = lead_of(api, campaign_id, "a@example.com")["id"]
    headers = other_tenant.headers
    listed = client.get(leads_url(campaign_id), headers=headers)
    added = client.post(leads_url(campaign_id), headers=headers,
                        json={"leads": [{"email": "x@example.com"}]})
    deleted = client.delete(f"{leads_url(campaign_id)}/{lead_id}", headers=headers)
    for response in (listed, added, deleted):
        assert response.status_code == 404
        assert response.json["error"]["code"] == "campaign_not_found"
    assert emails(api, campaign_id) == ["a@example.com"]


# ---- template variables ----------------------------------------------------------------

def test_template_variables_and_custom_fields_render_in_the_sent_mail(
        launch, dispatcher, smtp_server, frozen):
    launch(leads=[{"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
                   "company": "Navy", "custom_fields": {"plan": "Pro", "seats": 12}}],
           sequence=[{"subject": "{{company}}: hello {{firstName}}",
                      "body": "Dear {{firstName}} {{lastName}} ({{email}}), "
                              "{{seats}} seats on {{plan}}."}])
    dispatcher.run_once()
    [msg] = smtp_server.parsed()
    assert msg["Subject"] == "Navy: hello Grace"
    assert "Dear Grace Hopper (grace@example.com), 12 seats on Pro." in text_of(msg)


# ---- what start needs -------------------------------------------------------------------

def test_start_without_leads_or_sender_is_409_naming_both(api, create_campaign):
    campaign_id = create_campaign()["id"]
    assert api.patch(f"{BASE}/{campaign_id}", json={"sequence": [STEP]}).status_code == 200
    response = api.post(f"{BASE}/{campaign_id}/send", json={"action": "start"})
    assert response.status_code == 409
    error = response.json["error"]
    assert error["code"] == "start_blocked"
    assert error["details"]["missing"] == ["no_leads", "from_email_missing"]
    assert "lead" in error["message"] and "from_email" in error["message"]
    assert campaign(api, campaign_id)["status"] == "draft"


def test_start_without_sender_is_409_naming_from_email(api, create_campaign):
    campaign_id = create_campaign()["id"]
    assert api.patch(f"{BASE}/{campaign_id}", json={"sequence": [STEP]}).status_code == 200
    add_leads(api, campaign_id, [{"email": "a@example.com"}])
    response = api.post(f"{BASE}/{campaign_id}/send", json={"action": "start"})
    assert response.status_code == 409
    assert response.json["error"]["details"]["missing"] == ["from_email_missing"]
    assert campaign(api, campaign_id)["status"] == "draft"


def test_start_without_leads_is_409_naming_leads(api, create_campaign):
    campaign_id = create_campaign()["id"]
    body = {"sequence": [STEP], "settings": SENDER}
    assert api.patch(f"{BASE}/{campaign_id}", json=body).status_code == 200
    response = api.post(f"{BASE}/{campaign_id}/send", json={"action": "start"})
    assert response.status_code == 409
    assert response.json["error"]["details"]["missing"] == ["no_leads"]


def test_detail_shows_the_same_start_blockers(api, create_campaign):
    campaign_id = create_campaign()["id"]
    assert api.patch(f"{BASE}/{campaign_id}", json={"sequence": [STEP]}).status_code == 200
    refused = api.post(f"{BASE}/{campaign_id}/send", json={"action": "start"}).json["error"]
    detail = campaign(api, campaign_id)
    assert "start" not in detail["allowed_actions"]
    [blocked] = [b for b in detail["blocked_actions"] if b["action"] == "start"]
    assert blocked["code"] == "start_blocked"
    assert refused["message"].endswith(blocked["reason"])
    assert "lead" in blocked["reason"] and "from_email" in blocked["reason"]


def test_start_is_allowed_once_a_lead_and_a_sender_are_set(api, create_campaign):
    campaign_id = create_campaign()["id"]
    assert api.patch(f"{BASE}/{campaign_id}", json={"sequence": [STEP]}).status_code == 200
    add_leads(api, campaign_id, [{"email": "a@example.com"}])
    assert api.patch(f"{BASE}/{campaign_id}", json={"settings": SENDER}).status_code == 200
    assert campaign(api, campaign_id)["allowed_actions"] == ["start"]
    assert act(api, campaign_id, "start")["status"] == "active"
