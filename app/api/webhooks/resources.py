from flask import current_app, g
from flask.views import MethodView

from app.api.core.blueprint import Blueprint
from app.api.core.schemas import DeletedSchema, envelope, page_body
from app.api.paging import cursor_body
from app.api.webhooks.schemas import (
    DeliveryEnvelope,
    DeliveryListEnvelope,
    DeliveryListQuerySchema,
    WebhookCreatedEnvelope,
    WebhookCreateSchema,
    WebhookEnvelope,
    WebhookListEnvelope,
    WebhookListQuerySchema,
    WebhookUpdateSchema,
)
from app.services import webhooks as service

blp = Blueprint("webhooks", __name__,
                description="Endpoints that receive signed events (Standard Webhooks).")

WebhookDeletedEnvelope = envelope(DeletedSchema, "WebhookDeletedEnvelope")


def _allow_http():
    return bool(current_app.config.get("WEBHOOK_ALLOW_HTTP"))


@blp.route("")
class Webhooks(MethodView):
    @blp.operation("listWebhooks", 200, WebhookListEnvelope, query=WebhookListQuerySchema)
    def get(self, args):
        """List a workspace's webhooks, newest first

        A page of the workspace's webhooks (never their secrets).
        """
        items, total = service.list_webhooks(g.tenant, **args)
        return page_body(items, total, args)

    @blp.operation("createWebhook", 201, WebhookCreatedEnvelope, body=WebhookCreateSchema,
                   idempotency_key=True, example={
        "workspace_slug": "acme-corp", "url": "https://crm.example.com/hooks/campaigns",
        "events": ["lead.replied", "campaign.completed"], "description": "CRM sync"})
    def post(self, data):
        """Create a webhook; the answer shows its signing secret, this once

        Events are POSTed to the URL signed as Standard Webhooks have it (the
        webhook-id, webhook-timestamp and webhook-signature headers), with the secret
        in this answer: keep it, it is not shown again.
        """
        webhook, secret = service.create_webhook(g.tenant, **data, allow_http=_allow_http())
        webhook.secret = secret
        return {"success": True, "data": webhook}


@blp.route("/<string:webhook_id>")
class WebhookById(MethodView):
    @blp.operation("getWebhook", 200, WebhookEnvelope)
    def get(self, webhook_id):
        """Get a webhook, with why it was disabled if it was

        A webhook whose deliveries keep failing is disabled; `disabled_reason` and
        `failing_since` say why and since when.
        """
        return {"success": True, "data": service.get_webhook(g.tenant, webhook_id)}

    @blp.operation("updateWebhook", 200, WebhookEnvelope, body=WebhookUpdateSchema,
                   example={"events": ["*"], "status": "enabled"})
    def patch(self, changes, webhook_id):
        """Change a webhook's URL, events, description or status

        Only the keys sent change. Setting `status` to `enabled` again clears the
        failure.
        """
        webhook = service.update_webhook(g.tenant, webhook_id, changes=changes,
                                         allow_http=_allow_http())
        return {"success": True, "data": webhook}

    @blp.operation("deleteWebhook", 200, WebhookDeletedEnvelope)
    def delete(self, webhook_id):
        """Delete a webhook and its deliveries

        Nothing more is sent to it, including deliveries still pending.
        """
        webhook = service.delete_webhook(g.tenant, webhook_id)
        return {"success": True, "data": {"id": webhook.id, "deleted": True}}


@blp.route("/<string:webhook_id>/test")
class WebhookTest(MethodView):
    @blp.operation("testWebhook", 202, DeliveryEnvelope, idempotency_key=True)
    def post(self, webhook_id):
        """Send a webhook.test event to this webhook alone

        The delivery is due now and is sent by the worker like any other; follow it
        in the deliveries list.
        """
        return {"success": True, "data": service.send_test(g.tenant, webhook_id)}


@blp.route("/<string:webhook_id>/deliveries")
class WebhookDeliveries(MethodView):
    @blp.operation("listWebhookDeliveries", 200, DeliveryListEnvelope,
                   query=DeliveryListQuerySchema)
    def get(self, args, webhook_id):
        """List a webhook's deliveries, newest first, by cursor

        Pass `pagination.next_cursor` as starting_after for the next page.
        """
        items, has_more = service.list_deliveries(g.tenant, webhook_id, **args)
        return cursor_body(items, args["limit"], has_more)


@blp.route("/<string:webhook_id>/deliveries/<string:delivery_id>/retry")
class WebhookDeliveryRetry(MethodView):
    @blp.operation("retryWebhookDelivery", 202, DeliveryEnvelope, idempotency_key=True)
    def post(self, webhook_id, delivery_id):
        """Make a delivery due now again

        The worker sends it again; a failed delivery gets a fresh set of attempts.
        """
        delivery = service.retry_delivery(g.tenant, webhook_id, delivery_id)
        return {"success": True, "data": delivery}
