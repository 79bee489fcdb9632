"""Webhook use cases: endpoints per workspace, their deliveries, and ``emit`` (from
app.outbox), which the engine calls inside its own transaction so an event is written
with the change it reports (an outbox: app.services.webhook_delivery sends it later)."""
import base64
import secrets
from urllib.parse import urlsplit

from app import clock, crypto
from app.database import transaction
from app.errors import NotFound, ValidationFailed
from app.models import (
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    WEBHOOK_DISABLED,
    WEBHOOK_ENABLED,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)
from app.outbox import EVENT_TYPES, body, emit  # noqa: F401 - the outbox's writer, part of this API
from app.services.tenants import get_workspace, owned, workspace_page

SECRET_PREFIX = "whsec_"


def new_secret():
    """``whsec_`` and 32 random bytes in base64: the form Standard Webhooks libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_secret(webhook):
    """The endpoint's secret in the clear, to sign with. Stored as a Fernet token; one
    written before secrets were encrypted (``whsec_...``) is read as it is."""
    if webhook.secret.startswith(SECRET_PREFIX):
        return webhook.secret
    return crypto.decrypt(webhook.secret)


def rekey_secrets(*, batch=500):
    """Encrypt every signing secret under the first of ENCRYPTION_KEYS (those still in
    the clear included); returns how many."""
    count, last_id = 0, ""
    while True:
        with transaction():
            rows = list(Webhook.select(Webhook.id, Webhook.secret)
                        .where(Webhook.id > last_id).order_by(Webhook.id).limit(batch))
            for row in rows:
                sealed = (crypto.encrypt(row.secret) if row.secret.startswith(SECRET_PREFIX)
                          else crypto.rotate(row.secret))
                Webhook.update(secret=sealed).where(Webhook.id == row.id).execute()
                count += 1
        if len(rows) < batch:
            return count
        last_id = rows[-1].id


def _encodable(host):
    """A host name the resolver takes: every label 1-63 characters once IDNA-encoded."""
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


def check_url(url, *, allow_http=False):
    """Refuse a URL that is not absolute https (http too with ``allow_http``)."""
    problem = None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        parts, problem = None, "Give an absolute URL."
    schemes = ("https", "http") if allow_http else ("https",)
    if problem is None and parts.scheme not in schemes:
        problem = ("The URL must use https." if not allow_http
                   else "The URL must use https or http.")
    elif problem is None and not parts.hostname:
        problem = "Give an absolute URL with a host."
    elif problem is None and (parts.username or parts.password):
        problem = "The URL must not carry a user name or password."
    elif problem is None and parts.fragment:
        problem = "The URL must not have a fragment."
    elif problem is None and not _encodable(parts.hostname):
        problem = "The URL's host is not a valid domain name."
    if problem:
        raise ValidationFailed(details={"fields": {"url": [problem]}})


def _check_events(events):
    unknown = [e for e in events if e != "*" and e not in EVENT_TYPES]
    if unknown or not events:
        raise ValidationFailed(details={"fields": {"events": [
            "List event types from: " + ", ".join(("*",) + EVENT_TYPES) + "."]}})
    return list(dict.fromkeys(events))


def get_webhook(tenant, webhook_id):
    """The tenant's webhook with its workspace, or NotFound (also for other tenants')."""
    webhook = owned(Webhook, tenant, webhook_id).first()
    if webhook is None:
        raise NotFound(f"No webhook '{webhook_id}'.", code="webhook_not_found",
                       details={"id": webhook_id})
    return webhook


def create_webhook(tenant, *, workspace_slug, url, events=("*",), description="",
                   allow_http=False):
    """A new enabled endpoint, and its secret (the one time it is shown)."""
    check_url(url, allow_http=allow_http)
    events = _check_events(list(events))
    workspace = get_workspace(tenant, workspace_slug)
    secret = new_secret()
    sealed = crypto.encrypt(secret)  # before any write: no keys, no webhook
    with transaction():
        webhook = Webhook.create(tenant=tenant, workspace=workspace, url=url, events=events,
                                 description=description, secret=sealed)
    webhook.workspace = workspace
    return webhook, secret


def list_webhooks(tenant, *, workspace, limit=20, offset=0):
    """A workspace's webhooks newest first, and how many it has."""
    return workspace_page(Webhook, get_workspace(tenant, workspace),
                          limit=limit, offset=offset)


def update_webhook(tenant, webhook_id, *, changes, allow_http=False):
    """Change url, events, description or status; enabling again forgets the failures."""
    if "url" in changes:
        check_url(changes["url"], allow_http=allow_http)
    if "events" in changes:
        changes = {**changes, "events": _check_events(list(changes["events"]))}
    with transaction():
        webhook = get_webhook(tenant, webhook_id)
        for name in ("url", "events", "description"):
            if name in changes:
                setattr(webhook, name, changes[name])
        status = changes.get("status")
        if status == WEBHOOK_ENABLED and webhook.status != WEBHOOK_ENABLED:
            webhook.status = WEBHOOK_ENABLED
            webhook.disabled_reason = None
            webhook.failing_since = None
        elif status == WEBHOOK_DISABLED and webhook.status != WEBHOOK_DISABLED:
            webhook.status = WEBHOOK_DISABLED
            webhook.disabled_reason = "Disabled through the API."
        webhook.updated_at = clock.now()
        webhook.save()
    return webhook


def delete_webhook(tenant, webhook_id):
    """Delete the endpoint and its deliveries (its events stay for other endpoints)."""
    with transaction():
        webhook = get_webhook(tenant, webhook_id)
        webhook.delete_instance()
    return webhook


def send_test(tenant, webhook_id, *, now=None):
    """A ``webhook.test`` event for this endpoint alone, due now."""
    moment = now or clock.now()
    with transaction():
        webhook = get_webhook(tenant, webhook_id)
        event = WebhookEvent.create(
            workspace=webhook.workspace_id, type="webhook.test", created_at=moment,
            payload=body("webhook.test", {"webhook_id": webhook.id,
                                          "workspace_slug": webhook.workspace.slug}, moment))
        delivery = WebhookDelivery.create(webhook=webhook, event=event, next_attempt_at=moment,
                                          created_at=moment, updated_at=moment)
    delivery.event = event
    return delivery


def list_deliveries(tenant, webhook_id, *, limit=20, starting_after=None):
    """The endpoint's deliveries newest first, by cursor; and whether more follow."""
    webhook = get_webhook(tenant, webhook_id)
    query = (WebhookDelivery.select(WebhookDelivery, WebhookEvent).join(WebhookEvent)
             .where(WebhookDelivery.webhook == webhook))
    if starting_after:
        cursor = (WebhookDelivery.select(WebhookDelivery.created_at, WebhookDelivery.id)
                  .where((WebhookDelivery.webhook == webhook)
                         & (WebhookDelivery.id == starting_after)).first())
        if cursor is None:
            raise ValidationFailed(details={"fields": {"starting_after": [
                "No delivery of this webhook has that id."]}})
        query = query.where(
            (WebhookDelivery.created_at < cursor.created_at)
            | ((WebhookDelivery.created_at == cursor.created_at)
               & (WebhookDelivery.id < cursor.id)))
    rows = list(query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
                .limit(limit + 1))
    return rows[:limit], len(rows) > limit


def retry_delivery(tenant, webhook_id, delivery_id, *, now=None):
    """Make a delivery due now again (a failed one gets a fresh set of attempts)."""
    moment = now or clock.now()
    with transaction():
        webhook = get_webhook(tenant, webhook_id)
        delivery = (WebhookDelivery.select(WebhookDelivery, WebhookEvent).join(WebhookEvent)
                    .where((WebhookDelivery.webhook == webhook)
                           & (WebhookDelivery.id == delivery_id)).first())
        if delivery is None:
            raise NotFound(f"No delivery '{delivery_id}'.", code="delivery_not_found",
                           details={"id": delivery_id})
        if delivery.status == DELIVERY_FAILED:
            delivery.attempts = 0
        delivery.status = DELIVERY_PENDING
        delivery.next_attempt_at = moment
        delivery.updated_at = moment
        delivery.save()
    return delivery
