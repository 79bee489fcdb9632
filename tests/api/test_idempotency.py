"""Idempotency-Key on POST: a retry gets the first answer back and the work is done once."""
import datetime as dt

import peewee
import pytest

from app import clock, database
from app.models import Campaign, CampaignEvent, IdempotencyRecord, Lead
from app.services import campaigns as campaign_service
from app.services import idempotency as idempotency_service
from app.services import inbound as inbound_service
from app.services import leads as lead_service
from tests.conftest import BASE

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
INBOUND = "/api/v1/inbound/email"
INBOUND_SECRET = "inbound-secret-for-idempotency"
GRACE = {"email": "grace@example.com", "first_name": "Grace"}
REPLY = (b"From: Grace <grace@example.com>\r\n"
         b"To: ada@acme.test\r\n"
         b"Subject: Re: Hello\r\n"
         b"Message-ID: <reply-1@example.com>\r\n"
         b"In-Reply-To: <msg_01jd3v0m4h8x3q2w9e7r6t5y4u@acme.test>\r\n"
         b"\r\n"
         b"Sounds good.\r\n")


def count(query):
    with database.connection():
        return query.count()


def campaigns_of(tenant):
    return count(Campaign.select().where(Campaign.tenant == tenant.model.id))


def events_of(campaign_id):
    return count(CampaignEvent.select().where(CampaignEvent.campaign == campaign_id))


def leads_of(campaign_id):
    return count(Lead.select().where(Lead.campaign == campaign_id))


def records():
    return count(IdempotencyRecord.select())


def assert_error(response, status, code):
    assert response.status_code == status
    assert response.json["success"] is False
    assert response.json["error"]["code"] == code
    assert set(response.json["error"]) == {"code", "message", "details"}


@pytest.fixture
def create(api, tenant):
    def post(key, name="Q4 Outreach", **kwargs):
        return api.post(BASE, json={"workspace_slug": tenant.slug, "name": name},
                        headers={KEY: key}, **kwargs)
    return post


def fail_once(monkeypatch, module, name, error):
    """Make ``module.name`` raise ``error`` on its first call, then behave."""
    real = getattr(module, name)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, flaky)
    return calls


# ---- create ---------------------------------------------------------------------------

def test_create_retried_with_the_same_key_replays_status_and_body(create, tenant):
    first = create("create-1")
    again = create("create-1")

    assert first.status_code == 201
    assert again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers[REPLAYED] == "true"
    assert REPLAYED not in first.headers


def test_create_retried_with_the_same_key_makes_one_campaign(create, tenant):
    create("create-1")
    create("create-1")
    create("create-1")

    assert campaigns_of(tenant) == 1


def test_same_key_with_the_same_json_written_differently_replays(api, create, tenant):
    first = create("create-1")
    again = api.post(BASE, data=f'{{ "name" : "Q4 Outreach",  "workspace_slug": "{tenant.slug}" }}',
                     content_type="application/json", headers={KEY: "create-1"})

    assert again.status_code == 201
    assert again.get_data() == first.get_data()
    assert campaigns_of(tenant) == 1


def test_replayed_create_carries_the_first_etag(create, tenant):
    first = create("create-1")
    again = create("create-1")

    assert again.headers.get("ETag") == first.headers["ETag"]


def test_same_key_with_a_different_body_is_409_key_reused(create, tenant):
    first = create("create-1", name="First")
    second = create("create-1", name="Second")

    assert first.status_code == 201
    assert_error(second, 409, "idempotency_key_reused")
    assert second.json["error"]["details"] == {"idempotency_key": "create-1"}
    assert campaigns_of(tenant) == 1
    with database.connection():
        assert [c.name for c in Campaign.select()] == ["First"]


def test_same_key_on_another_route_is_409_key_reused(api, create, tenant):
    campaign_id = create("shared-key").json["data"]["id"]

    response = api.post(f"{BASE}/{campaign_id}/leads", json={"leads": [GRACE]},
                        headers={KEY: "shared-key"})

    assert_error(response, 409, "idempotency_key_reused")
    assert leads_of(campaign_id) == 0


def test_different_keys_each_do_the_work(create, tenant):
    assert create("key-a").status_code == 201
    assert create("key-b").status_code == 201

    assert campaigns_of(tenant) == 2


def test_a_refusal_is_replayed_too(api, tenant):
    body = {"workspace_slug": "no-such-workspace", "name": "X"}
    first = api.post(BASE, json=body, headers={KEY: "refused"})
    again = api.post(BASE, json=body, headers={KEY: "refused"})

    assert_error(first, 404, "workspace_not_found")
    assert again.status_code == 404
    assert again.get_data() == first.get_data()
    assert again.headers[REPLAYED] == "true"


# ---- tenant scope ---------------------------------------------------------------------

def test_same_key_from_another_tenant_runs_normally(client, create, tenant, other_tenant):
    mine = create("shared")
    theirs = client.post(BASE, json={"workspace_slug": other_tenant.slug, "name": "Theirs"},
                         headers={**other_tenant.headers, KEY: "shared"})

    assert mine.status_code == 201
    assert theirs.status_code == 201
    assert REPLAYED not in theirs.headers
    assert theirs.json["data"]["id"] != mine.json["data"]["id"]
    assert theirs.json["data"]["name"] == "Theirs"
    assert campaigns_of(tenant) == 1
    assert campaigns_of(other_tenant) == 1


def test_another_tenant_repeating_my_request_and_key_never_gets_my_answer(
        client, create, tenant, other_tenant):
    mine = create("shared")

    theirs = client.post(BASE, json={"workspace_slug": tenant.slug, "name": "Q4 Outreach"},
                         headers={**other_tenant.headers, KEY: "shared"})

    assert_error(theirs, 404, "workspace_not_found")
    assert REPLAYED not in theirs.headers
    assert mine.json["data"]["id"] not in theirs.get_data(as_text=True)
    assert campaigns_of(other_tenant) == 0


# ---- expiry ---------------------------------------------------------------------------

def test_key_still_replays_just_before_24_hours(create, tenant):
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0))
    first = create("daily")
    clock.advance(hours=23, minutes=59)

    again = create("daily")

    assert again.headers[REPLAYED] == "true"
    assert again.get_data() == first.get_data()
    assert campaigns_of(tenant) == 1


def test_key_expires_after_24_hours_and_runs_again(create, tenant):
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0))
    first = create("daily")
    clock.advance(hours=24, seconds=1)

    again = create("daily")

    assert again.status_code == 201
    assert REPLAYED not in again.headers
    assert again.json["data"]["id"] != first.json["data"]["id"]
    assert campaigns_of(tenant) == 2


def test_expired_key_may_be_used_with_a_different_body(create, tenant):
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0))
    create("daily", name="Monday")
    clock.advance(hours=25)

    again = create("daily", name="Tuesday")

    assert again.status_code == 201
    assert again.json["data"]["name"] == "Tuesday"
    assert campaigns_of(tenant) == 2


# ---- a first request still running --------------------------------------------------

def still_running(key):
    """Put the stored answer for ``key`` back in the state of a request not yet finished."""
    with database.connection():
        IdempotencyRecord.update(status=None, body=None).where(
            IdempotencyRecord.key == key).execute()


def test_retry_while_the_first_request_runs_is_409_in_use(create, tenant):
    create("running")
    still_running("running")

    again = create("running")

    assert_error(again, 409, "idempotency_key_in_use")
    assert int(again.headers["Retry-After"]) > 0
    assert campaigns_of(tenant) == 1


def test_a_first_request_that_never_finished_lets_a_retry_run_after_5_minutes(create, tenant):
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0))
    create("died")
    still_running("died")
    clock.advance(minutes=5, seconds=1)

    again = create("died")

    assert again.status_code == 201
    assert REPLAYED not in again.headers


# ---- failures on our side are not kept ------------------------------------------------

def test_a_500_is_not_stored_and_the_retry_runs(monkeypatch, create, tenant):
    calls = fail_once(monkeypatch, campaign_service, "create_campaign",
                      RuntimeError("boom"))

    first = create("flaky")
    again = create("flaky")

    assert_error(first, 500, "internal_error")
    assert again.status_code == 201
    assert REPLAYED not in again.headers
    assert len(calls) == 2
    assert campaigns_of(tenant) == 1


def test_a_503_from_the_database_is_not_stored_and_the_retry_runs(monkeypatch, create, tenant):
    calls = fail_once(monkeypatch, campaign_service, "create_campaign",
                      peewee.OperationalError("server closed the connection unexpectedly"))

    first = create("flaky")
    again = create("flaky")

    assert_error(first, 503, "database_unavailable")
    assert again.status_code == 201
    assert REPLAYED not in again.headers
    assert len(calls) == 2
    assert campaigns_of(tenant) == 1


def test_a_failure_to_store_the_answer_still_returns_the_answer(monkeypatch, create, tenant):
    fail_once(monkeypatch, idempotency_service, "finish",
              peewee.OperationalError("server closed the connection unexpectedly"))

    response = create("unstored")

    assert response.status_code == 201
    assert campaigns_of(tenant) == 1


def test_after_a_500_the_key_is_free_for_a_different_body(monkeypatch, create, tenant):
    fail_once(monkeypatch, campaign_service, "create_campaign", RuntimeError("boom"))

    assert create("flaky", name="First try").status_code == 500
    again = create("flaky", name="Corrected")

    assert again.status_code == 201
    assert again.json["data"]["name"] == "Corrected"


# ---- invalid keys ---------------------------------------------------------------------

def test_key_over_255_characters_is_400_in_the_envelope(create, tenant):
    response = create("k" * 256)

    assert_error(response, 400, "invalid_idempotency_key")
    assert campaigns_of(tenant) == 0
    assert records() == 0


def test_key_of_255_characters_is_accepted(create, tenant):
    first = create("k" * 255)
    again = create("k" * 255)

    assert first.status_code == 201
    assert again.headers[REPLAYED] == "true"
    assert campaigns_of(tenant) == 1


def test_blank_key_is_400_in_the_envelope(create, tenant):
    response = create("   ")

    assert_error(response, 400, "invalid_idempotency_key")
    assert campaigns_of(tenant) == 0


def test_key_with_a_control_character_is_400_in_the_envelope(create, tenant):
    response = create("abc\tdef")

    assert_error(response, 400, "invalid_idempotency_key")
    assert campaigns_of(tenant) == 0


def test_key_without_an_api_key_is_401_and_not_stored(client, tenant):
    response = client.post(BASE, json={"workspace_slug": tenant.slug, "name": "X"},
                           headers={KEY: "anonymous"})

    assert_error(response, 401, "unauthorized")
    assert records() == 0


# ---- /send ----------------------------------------------------------------------------

def send(api, campaign_id, action, key=None):
    headers = {KEY: key} if key else {}
    return api.post(f"{BASE}/{campaign_id}/send", json={"action": action}, headers=headers)


def test_send_retried_with_the_same_key_replays_without_a_second_transition(
        api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    first = send(api, campaign_id, "start", key="start-1")
    assert send(api, campaign_id, "pause").status_code == 200

    again = send(api, campaign_id, "start", key="start-1")

    assert first.status_code == 200
    assert again.status_code == 200
    assert again.get_data() == first.get_data()
    assert again.headers[REPLAYED] == "true"
    assert events_of(campaign_id) == 2  # start, pause: the retry moved nothing
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["status"] == "paused"


def test_send_with_a_fresh_key_is_not_a_replay(api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    send(api, campaign_id, "start", key="start-1")
    send(api, campaign_id, "pause")

    response = send(api, campaign_id, "start", key="start-2")

    assert_error(response, 409, "invalid_transition")
    assert events_of(campaign_id) == 2


def test_send_same_key_different_action_is_409_key_reused(api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    send(api, campaign_id, "start", key="send-1")

    response = send(api, campaign_id, "pause", key="send-1")

    assert_error(response, 409, "idempotency_key_reused")
    assert events_of(campaign_id) == 1
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["status"] == "active"


def test_send_500_is_not_stored_and_the_retry_starts(monkeypatch, api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    fail_once(monkeypatch, campaign_service, "apply_action", RuntimeError("boom"))

    first = send(api, campaign_id, "start", key="start-1")
    again = send(api, campaign_id, "start", key="start-1")

    assert first.status_code == 500
    assert again.status_code == 200
    assert REPLAYED not in again.headers
    assert again.json["data"]["status"] == "active"
    assert events_of(campaign_id) == 1


# ---- leads ----------------------------------------------------------------------------

def add_leads(api, campaign_id, leads, key):
    return api.post(f"{BASE}/{campaign_id}/leads", json={"leads": leads}, headers={KEY: key})


def test_leads_retried_with_the_same_key_replay_the_first_counts(api, create_campaign):
    campaign_id = create_campaign()["id"]
    first = add_leads(api, campaign_id, [GRACE], "leads-1")

    again = add_leads(api, campaign_id, [GRACE], "leads-1")

    assert first.status_code == 200
    assert first.json["data"]["added"] == 1
    assert again.status_code == 200
    assert again.get_data() == first.get_data()  # not "duplicates: 1"
    assert again.headers[REPLAYED] == "true"
    assert leads_of(campaign_id) == 1


def test_leads_same_key_different_leads_is_409_and_adds_nothing(api, create_campaign):
    campaign_id = create_campaign()["id"]
    add_leads(api, campaign_id, [GRACE], "leads-1")

    response = add_leads(api, campaign_id, [{"email": "alan@example.com"}], "leads-1")

    assert_error(response, 409, "idempotency_key_reused")
    assert leads_of(campaign_id) == 1


def test_leads_500_is_not_stored_and_the_retry_adds(monkeypatch, api, create_campaign):
    campaign_id = create_campaign()["id"]
    fail_once(monkeypatch, lead_service, "add_leads", RuntimeError("boom"))

    first = add_leads(api, campaign_id, [GRACE], "leads-1")
    again = add_leads(api, campaign_id, [GRACE], "leads-1")

    assert first.status_code == 500
    assert again.status_code == 200
    assert again.json["data"]["added"] == 1
    assert leads_of(campaign_id) == 1


# ---- inbound --------------------------------------------------------------------------

@pytest.fixture
def inbound(make_app, monkeypatch):
    """POST raw messages to an app with INBOUND_SECRET set; ``calls`` counts the work."""
    app = make_app(INBOUND_SECRET=INBOUND_SECRET)
    bound = database.db.obj
    client = app.test_client()
    calls = []
    real = inbound_service.receive

    def receive(raw):
        calls.append(raw)
        return real(raw)
    monkeypatch.setattr(inbound_service, "receive", receive)

    def post(raw=REPLY, *, key=None, secret=INBOUND_SECRET):
        headers = {"Authorization": f"Bearer {secret}"}
        if key:
            headers[KEY] = key
        return client.post(INBOUND, data=raw, content_type="message/rfc822", headers=headers)
    post.calls = calls
    yield post
    if hasattr(bound, "close_all"):  # a Postgres pool keeps its connections otherwise
        bound.close_all()


def test_inbound_retried_with_the_same_key_replays_and_is_processed_once(inbound):
    first = inbound(key="delivery-1")
    again = inbound(key="delivery-1")

    assert first.status_code == 200
    assert again.status_code == 200
    assert again.get_data() == first.get_data()
    assert again.headers[REPLAYED] == "true"
    assert len(inbound.calls) == 1


def test_inbound_same_key_different_message_is_409_key_reused(inbound):
    inbound(key="delivery-1")

    response = inbound(REPLY.replace(b"Sounds good.", b"Actually, no."), key="delivery-1")

    assert_error(response, 409, "idempotency_key_reused")
    assert len(inbound.calls) == 1


def test_inbound_without_a_key_is_processed_every_time(inbound):
    inbound()
    inbound()

    assert len(inbound.calls) == 2


def test_inbound_with_a_wrong_secret_is_401_and_the_key_is_not_stored(inbound):
    response = inbound(key="delivery-1", secret="wrong")

    assert_error(response, 401, "unauthorized")
    assert records() == 0
    assert inbound(key="delivery-1").status_code == 200
    assert len(inbound.calls) == 1


def test_inbound_body_too_deep_to_read_as_json_still_takes_a_key(inbound):
    deep = b"[" * 10_000 + b"]" * 10_000

    first = inbound(deep, key="deep-1")
    again = inbound(deep, key="deep-1")

    assert first.status_code == 200
    assert again.headers[REPLAYED] == "true"
    assert len(inbound.calls) == 1


def test_inbound_keys_do_not_meet_tenant_keys(inbound, client, tenant):
    created = client.post(BASE, json={"workspace_slug": tenant.slug, "name": "X"},
                          headers={**tenant.headers, KEY: "shared"})

    response = inbound(key="shared")

    assert created.status_code == 201
    assert response.status_code == 200
    assert REPLAYED not in response.headers
    assert len(inbound.calls) == 1
