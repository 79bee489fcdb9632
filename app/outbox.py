"""The webhook outbox's writer: ``emit`` records an event with the change it reports.

An event about a campaign (its data has ``campaign_id``) also goes into the campaign's
activity log, whether or not a webhook listens, under the same id.

It sits below the engine (app.lifecycle, app.services.outcomes, app.worker) so each of
them can emit at the one place its change is written, in that change's transaction;
app.services.webhooks re-exports it with the endpoints' use cases, and
app.services.webhook_delivery sends what it wrote.
"""
from app import clock
from app.database import transaction
from app.models import (
    WEBHOOK_ENABLED,
    ActivityEvent,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    Workspace,
)

EVENT_TYPES = (
    "campaign.started", "campaign.paused", "campaign.resumed", "campaign.completed",
    "message.sent", "message.bounced", "message.failed",
    "lead.opened", "lead.clicked", "lead.replied", "lead.unsubscribed", "lead.completed",
    "lead.suppressed",
    "mailbox.error",
    "webhook.test",
)


def body(event_type, data, moment):
    return {"type": event_type, "timestamp": clock.utc_text(moment), "data": data}


def emit(workspace_id, event_type, data, *, now=None):
    """Record ``event_type`` for every enabled webhook of the workspace that subscribes
    to it: one event row and one due delivery per webhook. Call it inside the
    transaction of the change it reports, so both commit or neither does. Sends
    nothing. ``data`` gets the workspace's slug when it does not carry it. Returns the
    event, or None when no webhook listens (nothing is written).

    Its cost when nobody listens is the activity row of a campaign's event and the one
    query that finds the workspace's enabled webhooks (a plain read, on an indexed
    column: it takes no lock). The rows it writes
    are new inserts; on Postgres their foreign keys take only KEY SHARE locks on the
    webhook and workspace rows, which no engine path locks, so the engine's lock order
    (lead before campaign) is untouched."""
    return emit_many(workspace_id, [(event_type, data)], now=now)[0]


def emit_many(workspace_id, events, *, now=None):
    """``emit`` for several events of one workspace, ``(event_type, data)`` pairs, in
    as many statements as one: one insert per table and one read of the webhooks.
    Returns the events written, in order (None where no webhook listens)."""
    for event_type, _data in events:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {event_type!r}")
    moment = now or clock.now()
    ids = [WebhookEvent.id.default() for _event in events]
    activity = [{"id": event_id, "campaign_id": data["campaign_id"],
                 "lead_id": data.get("lead_id"), "type": event_type,
                 "data": {k: v for k, v in data.items() if k != "workspace_slug"},
                 "created_at": moment}
                for event_id, (event_type, data) in zip(ids, events, strict=True) if data.get("campaign_id")]
    if activity:
        ActivityEvent.insert_many(activity).as_rowcount().execute()
    hooks = list(Webhook.select(Webhook.id, Webhook.events).where(
        (Webhook.workspace == workspace_id) & (Webhook.status == WEBHOOK_ENABLED)))
    listeners = [[hook for hook in hooks if hook.subscribes_to(event_type)]
                 for event_type, _data in events]
    if not any(listeners):
        return [None] * len(events)
    slug = None
    if any("workspace_slug" not in data for _type, data in events):  # every event names it
        slug = Workspace.select(Workspace.slug).where(Workspace.id == workspace_id).scalar()
    written, rows, deliveries = [], [], []
    for event_id, (event_type, data), hooked in zip(ids, events, listeners, strict=True):
        if not hooked:
            written.append(None)
            continue
        if "workspace_slug" not in data:
            data = {"workspace_slug": slug, **data}
        event = WebhookEvent(id=event_id, workspace=workspace_id, type=event_type,
                             payload=body(event_type, data, moment), created_at=moment)
        written.append(event)
        rows.append(event)
        deliveries.extend(
            {"id": WebhookDelivery.id.default(), "webhook": hook.id, "event": event_id,
             "next_attempt_at": moment, "created_at": moment, "updated_at": moment}
            for hook in hooked)
    with transaction():  # a savepoint inside the caller's transaction
        WebhookEvent.bulk_create(rows)
        WebhookDelivery.insert_many(deliveries).as_rowcount().execute()
    return written


def lead_data(lead, **extra):
    """An event's ``data`` about ``lead`` (a Lead with its campaign's id and email)."""
    return {"campaign_id": lead.campaign_id, "lead_id": lead.id, "email": lead.email,
            **extra}
