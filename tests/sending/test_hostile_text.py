"""Random Unicode, control characters and lone surrogates included, in every text field
of a campaign, its steps, its settings and its leads: the API answers 4xx or takes it,
and one dispatcher pass mails or fails each lead, with a reason, leaving no row in flight.
"""
import itertools
import json

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app import database
from app.lifecycle import LeadStatus, MessageStatus
from app.models import Lead, Message
from tests.conftest import BASE
from tests.sending.conftest import ALWAYS

# Every code point, surrogates and controls included; a few of the ones mail headers
# and the email package are known to trip over, drawn more often.
NASTY = st.sampled_from(["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\r", "\n", "\x00",
                         "\ud800", "\udfff", "\x7f", "\ufeff", "=?utf-8?q?x?=", "{{", "}}",
                         "{%", "<", ">", ",", '"', "@", "\u202e"])
ANY_CHAR = st.characters(exclude_categories=())  # () lets surrogates (Cs) in
RUNS = itertools.count()
TEXT = st.lists(st.one_of(ANY_CHAR, NASTY), max_size=30).map("".join)


FIELDS = ("name", "subject", "body", "subject2", "body2", "from_name", "from_email",
          "reply_to", "timezone", "email", "first_name", "last_name", "company", "role")


@st.composite
def campaigns(draw):
    """A campaign whose every text field is valid but one to three, which carry hostile
    text (alone, or after the valid value), so most cases get as far as the send."""
    hostile = set(draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3)))

    def text(field, valid, shape=lambda t: t):
        if field not in hostile:
            return valid
        noise = draw(TEXT)
        return draw(st.sampled_from([shape(noise), valid + noise, noise + valid]))

    leads = [{
        "email": text("email", f"lead{i}@example.com", lambda t, i=i: f"{t}{i}@example.com"),
        "first_name": text("first_name", "Grace"),
        "last_name": text("last_name", "Hopper"),
        "company": text("company", "Navy"),
        "custom_fields": {"role": text("role", "admiral")},
    } for i in range(draw(st.integers(1, 3)))]
    steps = [{"subject": text("subject", "Hello {{ firstName }}"),
              "body": text("body", "Hi {{ firstName }} from {{ company }}, "
                                   "https://example.com/x {{ role }}")}]
    if draw(st.booleans()):
        steps.append({"subject": text("subject2", ""), "body": text("body2", "Again"),
                      "delay": 0, "delay_unit": "minutes"})
    return {
        "name": text("name", "Hostile"),
        "sequence": steps,
        "settings": {"from_name": text("from_name", "Ada from Acme"),
                     "from_email": text("from_email", "ada@acme.test",
                                        lambda t: f"{t}@acme.test"),
                     "reply_to": text("reply_to", "replies@acme.test"),
                     "timezone": text("timezone", "Europe/Paris"),
                     "track_clicks": True, "schedule": ALWAYS},
        "leads": leads,
    }


def send(client, method, url, headers, body):
    """``body`` as JSON the way any client may write it: lone surrogates as \\u escapes."""
    response = client.open(url, method=method, headers=headers,
                           data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, (url, response.status_code, response.get_data())
    assert response.is_json and response.json["success"] is (response.status_code < 400)
    return response


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(case=campaigns())
def test_hostile_text_is_refused_or_mailed_or_failed_never_lost(
        client, tenant, dispatcher, smtp_server, case):
    # A key of its own per example, carrying hostile text too (escaped to ASCII).
    key = f"{next(RUNS)}-{json.dumps(case['name'])[:200]}"
    headers = {**tenant.headers, "Idempotency-Key": key}
    created = send(client, "POST", BASE, headers,
                   {"workspace_slug": tenant.slug, "name": case["name"]})
    if created.status_code != 201:
        created = send(client, "POST", BASE, tenant.headers,
                       {"workspace_slug": tenant.slug, "name": "Hostile"})
    url = f"{BASE}/{created.json['data']['id']}"
    # Apart, so hostile text in one refuses that one alone.
    send(client, "PATCH", url, tenant.headers, {"sequence": case["sequence"]})
    send(client, "PATCH", url, tenant.headers, {"settings": case["settings"]})
    send(client, "POST", f"{url}/leads", tenant.headers, {"leads": case["leads"]})
    started = send(client, "POST", f"{url}/send", tenant.headers, {"action": "start"})

    dispatcher.run_once()  # raises nothing: no pass is aborted

    campaign_id = created.json["data"]["id"]
    with database.connection():
        leads = list(Lead.select().where(Lead.campaign == campaign_id))
        in_flight = (Message.select().where(
            (Message.campaign == campaign_id)
            & Message.status.in_([MessageStatus.CLAIMED, MessageStatus.SENDING])).count())
        sent = {m.lead_id for m in Message.select().where(
            (Message.campaign == campaign_id) & (Message.status == MessageStatus.SENT))}
    assert in_flight == 0
    event(f"start answered {started.status_code} {started.json.get('error', {}).get('details')}")
    if started.status_code != 200:
        return  # refused before anything could be sent: nothing to check beyond 4xx
    for lead in leads:
        event(f"lead {lead.status}")
        if lead.status == LeadStatus.FAILED:
            assert lead.last_error, lead.id  # failed, and says why
        else:
            # Mailed: a completed lead (or one waiting for a later step) had its mail.
            assert lead.id in sent, (lead.status, lead.last_error)
            assert lead.status in (LeadStatus.COMPLETED, LeadStatus.IN_PROGRESS)
    received = {m["to"][0] for m in smtp_server.messages}
    assert {lead.email for lead in leads if lead.id in sent} <= received
