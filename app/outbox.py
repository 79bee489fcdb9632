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
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    moment = now or clock.now()
    event_id = WebhookEvent.id.default()
    if data.get("campaign_id"):
        ActivityEvent.insert(id=event_id, campaign_id=data["campaign_id"],
                             lead_id=data.get("lead_id"), type=event_type,
                             data={k: v for k, v in data.items() if k != "workspace_slug"},
                             created_at=moment).execute()
    hooks = [hook for hook in Webhook.select(Webhook.id, Webhook.events).where(
        (Webhook.workspace == workspace_id) & (Webhook.status == WEBHOOK_ENABLED))
        if hook.subscribes_to(event_type)]
    if not hooks:
        return None
    if "workspace_slug" not in data:  # every event names its workspace
        slug = Workspace.select(Workspace.slug).where(Workspace.id == workspace_id).scalar()
        data = {"workspace_slug": slug, **data}
    with transaction():  # a savepoint inside the caller's transaction
        event = WebhookEvent.create(id=event_id, workspace=workspace_id, type=event_type,
                                    payload=body(event_type, data, moment), created_at=moment)
        WebhookDelivery.insert_many(
            [{"id": WebhookDelivery.id.default(), "webhook": hook.id, "event": event.id,
              "next_attempt_at": moment, "created_at": moment, "updated_at": moment}
             for hook in hooks]).execute()
    return event


def lead_data(lead, **extra):
    """An event's ``data`` about ``lead`` (a Lead with its campaign's id and email)."""
    return {"campaign_id": lead.campaign_id, "lead_id": lead.id, "email": lead.email,
            **extra}
