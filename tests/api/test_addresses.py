"""Addresses through HTTP: a lead's email, a campaign's from_email and reply_to and a
mailbox's email are checked by one field, the same way everywhere."""
import pytest

from app import database
from app.models import Mailbox
from tests.conftest import BASE
from tests.mailboxes.conftest import BASE as MAILBOXES
from tests.mailboxes.conftest import mailbox_body

# Each can never be sent by a mailer without SMTPUTF8, or could smuggle a second
# recipient or a header into a header line, or points at a bare IP address.
REFUSED = {
    "quoted-with-angle-brackets": '"eve<x@evil.test>"@acme.test',
    "quoted-with-comma": '"eve,all"@acme.test',
    "ip-literal": "ada@[127.0.0.1]",
    "non-ascii-local-part": "adä@acme.test",
    "display-name": "Ada <ada@acme.test>",
    "localhost": "ada@localhost",
}


def leads_url(campaign_id):
    return f"{BASE}/{campaign_id}/leads"


def lead_emails(api, campaign_id):
    response = api.get(leads_url(campaign_id))
    assert response.status_code == 200
    return sorted(lead["email"] for lead in response.json["data"])


def settings_of(api, campaign_id):
    response = api.get(f"{BASE}/{campaign_id}")
    assert response.status_code == 200
    return response.json["data"]["settings"]


def field_errors(response):
    assert response.status_code == 422, response.json
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "validation_error"
    return response.json["error"]["details"]["fields"]


# ---- leads ---------------------------------------------------------------------------

@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_refused_lead_address_is_reported_by_index_and_the_others_are_added(
        api, create_campaign, address):
    campaign_id = create_campaign()["id"]
    response = api.post(leads_url(campaign_id), json={"leads": [
        {"email": "ok1@example.com"}, {"email": address}, {"email": "ok2@example.com"}]})

    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert data["added"] == 2
    [invalid] = data["invalid"]
    assert invalid["index"] == 1 and invalid["email"] == address
    assert invalid["errors"]["email"]
    assert lead_emails(api, campaign_id) == ["ok1@example.com", "ok2@example.com"]


def test_non_ascii_local_part_error_says_the_mailer_lacks_smtputf8(api, create_campaign):
    campaign_id = create_campaign()["id"]
    response = api.post(leads_url(campaign_id), json={"leads": [{"email": "josé@acme.test"}]})

    [invalid] = response.json["data"]["invalid"]
    assert "SMTPUTF8" in " ".join(invalid["errors"]["email"])
    assert lead_emails(api, campaign_id) == []


def test_lead_with_an_international_domain_is_stored_as_xn_and_lower_case(
        api, create_campaign):
    campaign_id = create_campaign()["id"]
    response = api.post(leads_url(campaign_id), json={"leads": [{"email": "Grace@Exämple.com"}]})

    assert response.status_code == 200
    assert response.json["data"]["added"] == 1
    assert lead_emails(api, campaign_id) == ["grace@xn--exmple-cua.com"]


def test_lead_on_a_test_domain_is_accepted(api, create_campaign):
    campaign_id = create_campaign()["id"]
    response = api.post(leads_url(campaign_id), json={"leads": [{"email": "ada@acme.test"}]})

    assert response.json["data"]["invalid"] == []
    assert lead_emails(api, campaign_id) == ["ada@acme.test"]


# ---- campaign settings ---------------------------------------------------------------

@pytest.mark.parametrize("field", ["from_email", "reply_to"])
@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_refused_sender_address_is_a_field_error_and_nothing_changes(
        api, create_campaign, field, address):
    campaign_id = create_campaign()["id"]
    before = settings_of(api, campaign_id)[field]

    fields = field_errors(api.patch(f"{BASE}/{campaign_id}",
                                    json={"settings": {field: address}}))

    assert field in fields["settings"]
    assert settings_of(api, campaign_id)[field] == before


@pytest.mark.parametrize("field", ["from_email", "reply_to"])
def test_sender_address_with_an_international_domain_is_stored_as_xn(
        api, create_campaign, field):
    campaign_id = create_campaign()["id"]
    response = api.patch(f"{BASE}/{campaign_id}",
                         json={"settings": {field: "ada@bücher.example"}})

    assert response.status_code == 200, response.json
    assert settings_of(api, campaign_id)[field] == "ada@xn--bcher-kva.example"


# ---- mailboxes -----------------------------------------------------------------------

@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_refused_mailbox_address_is_a_field_error_and_nothing_is_created(api, tenant, address):
    fields = field_errors(api.post(MAILBOXES, json=mailbox_body(tenant.slug, email=address)))

    assert "email" in fields
    with database.connection():
        assert Mailbox.select().count() == 0


def test_mailbox_with_an_international_domain_is_stored_as_xn(api, tenant):
    response = api.post(MAILBOXES, json=mailbox_body(tenant.slug, email="ada@bücher.example"))

    assert response.status_code == 201, response.json
    mailbox_id = response.json["data"]["id"]
    assert api.get(f"{MAILBOXES}/{mailbox_id}").json["data"]["email"] == (
        "ada@xn--bcher-kva.example")


def test_mailbox_address_change_is_refused_the_same_way(api, tenant):
    mailbox_id = api.post(MAILBOXES, json=mailbox_body(tenant.slug)).json["data"]["id"]

    fields = field_errors(api.patch(f"{MAILBOXES}/{mailbox_id}",
                                    json={"email": '"eve<x@evil.test>"@acme.test'}))

    assert "email" in fields
    assert api.get(f"{MAILBOXES}/{mailbox_id}").json["data"]["email"] == "ada@acme.test"
