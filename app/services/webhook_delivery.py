"""Sending due webhook deliveries: claim, sign, POST, record; the worker loop calls
``deliver_due`` on every pass.

The HTTP client is urllib3 (a direct dependency in setup.cfg): its
connection pools take the address to connect to apart from the name TLS checks
(``server_hostname``/``assert_hostname``), so a delivery connects to the very address
that was resolved and checked here. requests or httpx would resolve the host again when
they connect, and a DNS answer that changed in between (DNS rebinding) would reach a
private address. It follows no redirect and retries nothing unless told to.
"""
import datetime as dt
import ipaddress
import json
import logging
import socket
from urllib.parse import urlsplit

import urllib3
from standardwebhooks import Webhook as Signer

from app import clock
from app.database import skip_locked, transaction
from app.errors import AppError
from app.models import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    WEBHOOK_DISABLED,
    WEBHOOK_ENABLED,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)
from app.services.webhooks import check_url, signing_secret

log = logging.getLogger("app.webhooks")

# Wait before attempt 2, 3, ...: seconds at first, hours at the end; after the last
# one fails the delivery is failed (9 attempts over about 11 hours).
BACKOFF = (dt.timedelta(seconds=5), dt.timedelta(seconds=30), dt.timedelta(minutes=2),
           dt.timedelta(minutes=10), dt.timedelta(minutes=30), dt.timedelta(hours=1),
           dt.timedelta(hours=3), dt.timedelta(hours=6))
MAX_ATTEMPTS = len(BACKOFF) + 1
# A claim holds a delivery this long; a worker killed mid-send leaves it due after that.
LEASE = dt.timedelta(minutes=2)
# An endpoint that has failed every attempt for this long is disabled.
DISABLE_AFTER = dt.timedelta(days=3)
USER_AGENT = "campaigns-api-webhooks/1"


class Refused(Exception):
    """The URL or its address may not be called (SSRF guard)."""


def claim_due(*, now=None, limit=100):
    """Take up to ``limit`` due deliveries of enabled webhooks for one lease; their ids.

    Postgres: rows another worker holds are skipped (FOR UPDATE SKIP LOCKED); SQLite
    serialises writers. Moving ``next_attempt_at`` to the lease's end is the claim: a
    worker that dies leaves the row due again once the lease runs out."""
    moment = now or clock.now()
    with transaction():
        rows = skip_locked(
            WebhookDelivery.select(WebhookDelivery.id)
            .where((WebhookDelivery.status == DELIVERY_PENDING)
                   & (WebhookDelivery.next_attempt_at <= moment)
                   & WebhookDelivery.webhook.in_(
                       Webhook.select(Webhook.id).where(Webhook.status == WEBHOOK_ENABLED)))
            .order_by(WebhookDelivery.next_attempt_at).limit(limit))
        ids = [row.id for row in rows]
        if ids:
            (WebhookDelivery.update(next_attempt_at=moment + LEASE)
             .where(WebhookDelivery.id.in_(ids)).execute())
    return ids


def deliver_due(*, now=None, limit=100, timeout=10, allow_http=False, allow_private=False):
    """Claim due deliveries and send each once; ``{"delivered", "failed", "retrying"}``
    counts this pass's attempts."""
    summary = {"delivered": 0, "retrying": 0, "failed": 0}
    for delivery_id in claim_due(now=now, limit=limit):
        outcome = deliver_one(delivery_id, now=now, timeout=timeout, allow_http=allow_http,
                              allow_private=allow_private)
        if outcome:
            summary[outcome] += 1
    return summary


def deliver_one(delivery_id, *, now=None, timeout=10, allow_http=False, allow_private=False):
    delivery = (WebhookDelivery.select(WebhookDelivery, Webhook, WebhookEvent)
                .join(Webhook).switch(WebhookDelivery).join(WebhookEvent)
                .where(WebhookDelivery.id == delivery_id).first())
    if delivery is None:  # the webhook was deleted meanwhile
        return None
    moment = now or clock.now()
    status_code, error = None, None
    try:
        status_code = post(delivery.webhook.url, delivery.event.id, delivery.event.payload,
                           secret=signing_secret(delivery.webhook), moment=moment, timeout=timeout,
                           allow_http=allow_http, allow_private=allow_private)
        if not 200 <= status_code < 300:
            error = f"The endpoint answered {status_code}."
    except Refused as exc:
        error = str(exc)
    except AppError as exc:  # the secret cannot be decrypted: the operator's to fix
        error = exc.message
    except urllib3.exceptions.HTTPError as exc:
        error = f"The request failed: {type(exc).__name__}."
    except OSError as exc:
        error = f"The request failed: {exc.strerror or type(exc).__name__}."
    except Exception as exc:  # noqa: BLE001 - one endpoint's fault is its own failed
        # attempt: it must not stop the deliveries claimed behind it.
        log.warning("webhook delivery %s failed: %s", delivery.id, type(exc).__name__)
        error = f"The request failed: {type(exc).__name__}."
    return record(delivery, status_code=status_code, error=error, now=moment)


def record(delivery, *, status_code, error, now):
    """Store an attempt's outcome; disable an endpoint that has failed for 3 days."""
    with transaction():
        delivery.attempts += 1
        delivery.last_status_code = status_code
        delivery.last_error = error
        delivery.updated_at = now
        webhook = delivery.webhook
        if error is None:
            delivery.status = DELIVERY_DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            outcome = "delivered"
            Webhook.update(failing_since=None).where(Webhook.id == webhook.id).execute()
        else:
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = DELIVERY_FAILED
                delivery.next_attempt_at = None
                outcome = "failed"
            else:
                delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
                outcome = "retrying"
            since = webhook.failing_since or now
            changes = {Webhook.failing_since: since}
            if now - since >= DISABLE_AFTER:
                changes.update({
                    Webhook.status: WEBHOOK_DISABLED, Webhook.updated_at: now,
                    Webhook.disabled_reason: (
                        f"Every delivery failed for {DISABLE_AFTER.days} days, since "
                        f"{clock.utc_text(since)}; the last: {error}")})
                log.warning("webhook %s disabled: failing since %s", webhook.id, since)
            (Webhook.update(changes)
             .where((Webhook.id == webhook.id) & (Webhook.status == WEBHOOK_ENABLED))
             .execute())
        delivery.save(only=[WebhookDelivery.attempts, WebhookDelivery.last_status_code,
                            WebhookDelivery.last_error, WebhookDelivery.updated_at,
                            WebhookDelivery.status, WebhookDelivery.delivered_at,
                            WebhookDelivery.next_attempt_at])
    return outcome


def headers_for(event_id, body, *, secret, moment):
    """The Standard Webhooks headers of one attempt, signed by the standardwebhooks library."""
    stamp = moment.replace(tzinfo=dt.UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Signer(secret).sign(event_id, stamp, body),
    }


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def refused_address(address):
    """Why ``address`` may not be called, or None: loopback, private, link-local,
    multicast, reserved, unspecified or otherwise not globally routable."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address, reached through a gateway: judged by
        # the address they carry (NAT64's 64:ff9b::/96 is "global" to ipaddress).
        embedded = (address.ipv4_mapped or address.sixtofour
                    or (address.teredo[1] if address.teredo else None)
                    or (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
                        if address in NAT64 else None))
        if embedded is not None:
            return refused_address(embedded)
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        return "not global"
    return None


def resolve(host, port, *, allow_private=False):
    """The address to connect to: every address the name resolves to must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:  # UnicodeError: a label IDNA refuses
        raise Refused(f"The host '{host}' does not resolve.") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private:
        for address in addresses:
            kind = refused_address(address)
            if kind:
                raise Refused(f"The host '{host}' resolves to {address}, a {kind} address.")
    return addresses[0]


def post(url, event_id, payload, *, secret, moment, timeout=10, allow_http=False,
         allow_private=False):
    """POST one signed event; the answer's status code. Redirects are not followed."""
    try:
        check_url(url, allow_http=allow_http)
    except Exception as exc:
        raise Refused("The URL is not allowed: it must be https.") from exc
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = resolve(parts.hostname, port, allow_private=allow_private)
    body = json.dumps(payload, separators=(",", ":"))
    headers = {**headers_for(event_id, body, secret=secret, moment=moment),
               "Content-Type": "application/json", "User-Agent": USER_AGENT,
               "Host": parts.netloc}
    options = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "maxsize": 1}
    if https:
        # Connect to the checked address; TLS still sends and verifies the host's name.
        pool = urllib3.HTTPSConnectionPool(str(address), port, server_hostname=parts.hostname,
                                           assert_hostname=parts.hostname, **options)
    else:
        pool = urllib3.HTTPConnectionPool(str(address), port, **options)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with pool:
        response = pool.urlopen("POST", path, body=body.encode(), headers=headers,
                                redirect=False, retries=False, preload_content=False,
                                assert_same_host=False)
        # The answer's body is not read: only its status counts, and a receiver could
        # send an endless one. The connection is not reused.
        response.close()
        return response.status
