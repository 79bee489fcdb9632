"""Delivery to a real HTTP receiver on loopback: signatures, retries, leases, SSRF."""
import datetime as dt
import ipaddress
import json
import socket

import pytest

from app import clock
from app.database import transaction
from app.models import Webhook, WebhookDelivery, WebhookEvent
from app.services import webhook_delivery as delivery
from app.services import webhooks
from tests.webhooks.conftest import URL, Receiver

LOOPBACK = {"allow_http": True, "allow_private": True}


def deliver(**kwargs):
    return delivery.deliver_due(**{**LOOPBACK, **kwargs})


def emit(tenant, event_type="lead.replied", **data):
    with transaction():
        return webhooks.emit(tenant.workspace.id, event_type,
                             {"workspace_slug": tenant.slug, **data})


@pytest.fixture
def hook(receiver, create_webhook):
    created = create_webhook(receiver.url)
    receiver.secret = created["secret"]
    return created


@pytest.fixture
def frozen():
    clock.freeze(clock.now())  # near real time: receivers check the timestamp


def test_receiver_verifies_the_signed_event(api, tenant, receiver, hook):
    event = emit(tenant, lead_id="lead_1", email="grace@example.com")

    assert deliver() == {"delivered": 1, "retrying": 0, "failed": 0}

    [got] = receiver.requests
    assert got["verified"] == {"type": "lead.replied", "timestamp": event.payload["timestamp"],
                               "data": {"workspace_slug": tenant.slug, "lead_id": "lead_1",
                                        "email": "grace@example.com"}}
    assert got["headers"]["webhook-id"] == event.id
    assert got["headers"]["webhook-signature"].startswith("v1,")
    assert got["headers"]["Content-Type"] == "application/json"
    [row] = api.get(f"{URL}/{hook['id']}/deliveries").json["data"]
    assert (row["status"], row["attempts"], row["last_status_code"], row["event_id"]) == (
        "delivered", 1, 204, event.id)
    assert row["next_attempt_at"] is None and row["delivered_at"]


def test_a_wrong_secret_fails_verification(tenant, receiver, hook):
    receiver.secret = webhooks.new_secret()
    emit(tenant)
    deliver()
    assert isinstance(receiver.requests[0]["verified"], Exception)


def test_test_event_reaches_the_receiver(api, receiver, hook):
    api.post(f"{URL}/{hook['id']}/test")
    deliver()
    [got] = receiver.requests
    assert got["verified"]["type"] == "webhook.test"
    assert got["verified"]["data"]["webhook_id"] == hook["id"]


def test_emit_writes_a_delivery_per_subscribed_enabled_webhook(api, tenant, create_webhook):
    everything = create_webhook("https://a.example.com/")
    replies = create_webhook("https://b.example.com/", events=["lead.replied"])
    create_webhook("https://c.example.com/", events=["lead.clicked"])
    off = create_webhook("https://d.example.com/")
    api.patch(f"{URL}/{off['id']}", json={"status": "disabled"})

    event = emit(tenant)

    assert WebhookEvent.select().count() == 1
    assert {d.webhook_id for d in WebhookDelivery.select()} == {everything["id"], replies["id"]}
    assert all(d.event_id == event.id and d.status == "pending"
               for d in WebhookDelivery.select())


def test_emit_without_a_listener_writes_nothing(tenant, create_webhook):
    create_webhook("https://c.example.com/", events=["lead.clicked"])
    assert emit(tenant) is None
    assert WebhookEvent.select().count() == 0
    assert WebhookDelivery.select().count() == 0


def test_emit_is_undone_with_the_callers_transaction(tenant, hook):
    with pytest.raises(RuntimeError), transaction():
        webhooks.emit(tenant.workspace.id, "lead.replied", {})
        raise RuntimeError("the change it reports failed")
    assert WebhookEvent.select().count() == 0
    assert WebhookDelivery.select().count() == 0


def test_emit_names_the_workspace(tenant, hook):
    with transaction():
        event = webhooks.emit(tenant.workspace.id, "lead.opened", {"lead_id": "lead_1"})
    assert event.payload["data"] == {"workspace_slug": tenant.slug, "lead_id": "lead_1"}


def test_emit_refuses_an_unknown_type(tenant):
    with pytest.raises(ValueError):
        webhooks.emit(tenant.workspace.id, "lead.exploded", {})


def test_a_tenant_never_receives_another_tenants_events(client, tenant, other_tenant,
                                                        receiver, hook):
    theirs = Receiver()
    try:
        created = client.post(URL, headers=other_tenant.headers, json={
            "workspace_slug": other_tenant.slug, "url": theirs.url}).json["data"]
        theirs.secret = created["secret"]

        emit(other_tenant, "campaign.started", campaign_id="cmp_theirs")
        deliver()

        assert receiver.requests == []
        [got] = theirs.requests
        assert got["verified"]["data"]["campaign_id"] == "cmp_theirs"
        assert WebhookDelivery.select().where(WebhookDelivery.webhook == hook["id"]).count() == 0
    finally:
        theirs.close()


def test_a_receiver_that_recovers_gets_each_event_once(frozen, tenant, receiver, hook):
    receiver.statuses = [500, 500, 500, 204]
    first, second = emit(tenant, lead_id="1"), emit(tenant, lead_id="2")

    assert deliver() == {"delivered": 0, "retrying": 2, "failed": 0}
    assert deliver() == {"delivered": 0, "retrying": 0, "failed": 0}  # not due yet
    clock.advance(seconds=5)
    assert deliver() == {"delivered": 1, "retrying": 1, "failed": 0}
    clock.advance(seconds=30)
    assert deliver() == {"delivered": 1, "retrying": 0, "failed": 0}
    clock.advance(hours=12)
    assert deliver() == {"delivered": 0, "retrying": 0, "failed": 0}

    assert len(receiver.requests) == 5
    assert all(r["verified"] is not None and not isinstance(r["verified"], Exception)
               for r in receiver.requests)
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert set(ids) == {first.id, second.id}
    accepted = [r["headers"]["webhook-id"] for r in receiver.requests
                if r["answered"] < 300]
    assert sorted(accepted) == sorted([first.id, second.id])  # once per webhook-id
    bodies = {r["body"] for r in receiver.requests if r["headers"]["webhook-id"] == first.id}
    assert len(bodies) == 1  # the same body on every attempt
    assert {d.status for d in WebhookDelivery.select()} == {"delivered"}


def test_backoff_grows_to_hours_then_the_delivery_fails(frozen, tenant, receiver, hook):
    receiver.statuses = [503]
    emit(tenant)
    waits = []
    for _ in range(delivery.MAX_ATTEMPTS):
        before = clock.now()
        deliver()
        row = WebhookDelivery.get()
        if row.next_attempt_at is None:
            break
        waits.append(row.next_attempt_at - before)
        clock.freeze(row.next_attempt_at)

    assert waits == list(delivery.BACKOFF)
    assert waits[0] == dt.timedelta(seconds=5) and waits[-1] == dt.timedelta(hours=6)
    row = WebhookDelivery.get()
    assert (row.status, row.attempts, row.last_status_code) == (
        "failed", delivery.MAX_ATTEMPTS, 503)
    assert len(receiver.requests) == delivery.MAX_ATTEMPTS
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1


def test_three_days_of_failure_disable_the_endpoint(frozen, api, tenant, receiver, hook):
    receiver.statuses = [500]
    emit(tenant)
    deliver()
    assert api.get(f"{URL}/{hook['id']}").json["data"]["failing_since"]

    clock.advance(days=3)
    emit(tenant)
    deliver()

    data = api.get(f"{URL}/{hook['id']}").json["data"]
    assert data["status"] == "disabled"
    assert "3 days" in data["disabled_reason"]
    assert emit(tenant) is None  # a disabled endpoint gets no new deliveries
    before = len(receiver.requests)
    clock.advance(days=1)
    deliver()
    assert len(receiver.requests) == before  # nor attempts of the old ones


def test_a_success_resets_the_failing_clock(frozen, tenant, receiver, hook):
    receiver.statuses = [500, 204, 500]
    emit(tenant)
    deliver()
    clock.advance(seconds=5)
    deliver()
    assert Webhook.get_by_id(hook["id"]).failing_since is None

    clock.advance(days=3)
    emit(tenant)
    deliver()
    webhook = Webhook.get_by_id(hook["id"])
    assert webhook.status == "enabled"
    assert webhook.failing_since == clock.now()


def test_redirects_are_not_followed(tenant, receiver, hook):
    receiver.statuses = [302]
    receiver.location = receiver.url + "/elsewhere"
    emit(tenant)

    assert deliver() == {"delivered": 0, "retrying": 1, "failed": 0}

    assert [r["path"] for r in receiver.requests] == ["/hook"]
    row = WebhookDelivery.get()
    assert (row.status, row.last_status_code) == ("pending", 302)


def test_loopback_is_refused_at_delivery_without_the_setting(tenant, receiver, hook):
    emit(tenant)

    assert delivery.deliver_due(allow_http=True) == {"delivered": 0, "retrying": 1,
                                                     "failed": 0}

    assert receiver.requests == []
    assert "127.0.0.1, a loopback address" in WebhookDelivery.get().last_error


def test_http_is_refused_at_delivery_without_the_setting(tenant, receiver, hook):
    emit(tenant)
    delivery.deliver_due(allow_private=True)
    assert receiver.requests == []
    assert "https" in WebhookDelivery.get().last_error


def test_a_closed_port_is_a_failed_attempt(tenant, create_webhook):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    create_webhook(f"http://127.0.0.1:{port}/hook")
    emit(tenant)

    assert deliver() == {"delivered": 0, "retrying": 1, "failed": 0}
    row = WebhookDelivery.get()
    assert row.last_status_code is None and row.last_error.startswith("The request failed")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
                                     "169.254.169.254", "0.0.0.0", "224.0.0.1", "100.64.0.1",
                                     "240.0.0.1", "::1", "fe80::1", "fc00::1", "::",
                                     "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
                                     # IPv4 inside IPv6: NAT64, 6to4, Teredo
                                     "64:ff9b::a00:1", "64:ff9b::7f00:1", "2002:a00:1::",
                                     "2001:0:4136:e378:8000:63bf:f5ff:fffe"])
def test_private_addresses_are_refused(address):
    assert delivery.refused_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946",
                                     "64:ff9b::5db8:d822"])
def test_public_addresses_are_allowed(address):
    assert delivery.refused_address(ipaddress.ip_address(address)) is None


def test_a_worker_that_dies_mid_delivery_loses_nothing(frozen, tenant, receiver, hook):
    event = emit(tenant)
    assert len(delivery.claim_due()) == 1  # claimed, then the worker is gone

    assert deliver() == {"delivered": 0, "retrying": 0, "failed": 0}  # leased
    assert receiver.requests == []
    clock.advance(seconds=delivery.LEASE.total_seconds() + 1)
    assert deliver() == {"delivered": 1, "retrying": 0, "failed": 0}

    [got] = receiver.requests
    assert got["headers"]["webhook-id"] == event.id


def test_retry_makes_a_failed_delivery_due_again(frozen, api, tenant, receiver, hook):
    emit(tenant)
    WebhookDelivery.update(status="failed", attempts=delivery.MAX_ATTEMPTS,
                           next_attempt_at=None).execute()
    row = WebhookDelivery.get()

    response = api.post(f"{URL}/{hook['id']}/deliveries/{row.id}/retry")

    assert response.status_code == 202
    assert (response.json["data"]["status"], response.json["data"]["attempts"]) == (
        "pending", 0)
    assert deliver()["delivered"] == 1
    assert json.loads(receiver.requests[0]["body"])["type"] == "lead.replied"


def test_deleting_a_webhook_drops_its_pending_deliveries(api, tenant, receiver, hook):
    emit(tenant)
    api.delete(f"{URL}/{hook['id']}")
    assert deliver() == {"delivered": 0, "retrying": 0, "failed": 0}
    assert receiver.requests == []


def test_an_endpoint_the_resolver_cannot_take_fails_alone_and_stalls_no_other(
        api, tenant, receiver, hook, create_webhook):
    # A URL stored before its host was checked at create time: resolving it raises
    # UnicodeError, which once aborted the whole run of deliveries behind it.
    bad = create_webhook(receiver.url)
    Webhook.update(url="https://a..b.example/hook").where(Webhook.id == bad["id"]).execute()
    emit(tenant)

    summary = deliver()

    assert summary["delivered"] == 1 and summary["delivered"] + summary["retrying"] == 2
    assert len(receiver.requests) == 1
    [row] = api.get(f"{URL}/{bad['id']}/deliveries").json["data"]
    assert row["attempts"] == 1 and row["status"] == "pending"
