from flask import g, request
from flask.views import MethodView

from app.api.campaigns.schemas import (
    CampaignCreateSchema,
    CampaignEnvelope,
    CampaignListEnvelope,
    CampaignListQuerySchema,
    CampaignUpdateSchema,
    EventListEnvelope,
    EventListQuerySchema,
    SendSchema,
)
from app.api.core.blueprint import Blueprint
from app.api.core.conditional import ETAG_HEADER, etag_version, with_etag
from app.api.core.schemas import DeletedSchema, envelope, page_body
from app.api.paging import cursor_body
from app.services import activity
from app.services import campaigns as service

blp = Blueprint("campaigns", __name__, description="Create, configure and launch campaigns.")

DeletedEnvelope = envelope(DeletedSchema, "DeletedEnvelope")


@blp.route("")
class Campaigns(MethodView):
    @blp.operation("listCampaigns", 200, CampaignListEnvelope, query=CampaignListQuerySchema)
    def get(self, args):
        """List a workspace's campaigns, newest first

        A page of the workspace's campaigns, optionally of one status, with their stats.
        Page with limit and offset, or past 10,000 with starting_after.
        """
        items, total, has_more = service.list_campaigns(g.tenant, **args)
        return page_body(items, total, args, has_more=has_more)

    @blp.operation("createCampaign", 201, CampaignEnvelope, body=CampaignCreateSchema,
                   headers=ETAG_HEADER, idempotency_key=True,
                   example={"workspace_slug": "acme-corp", "name": "Q4 outreach",
                            "goal": "lead_gen"})
    def post(self, data):
        """Create a campaign draft

        The draft has no steps, no leads and default settings: give it a sequence and a
        sender (PATCH), add leads, then start it (POST .../send).
        """
        campaign = service.create_campaign(g.tenant, **data)
        return with_etag({"success": True, "data": campaign}, campaign)


@blp.route("/<string:campaign_id>")
class CampaignById(MethodView):
    @blp.operation("getCampaign", 200, CampaignEnvelope, headers=ETAG_HEADER)
    def get(self, campaign_id):
        """Get a campaign with its sequence, settings, stats and allowed actions

        `allowed_actions` lists what POST .../send would do now; `blocked_actions` says
        why each other action would not. The ETag is for If-Match on a later change.
        """
        campaign = service.get_campaign(g.tenant, campaign_id)
        return with_etag({"success": True, "data": campaign}, campaign)

    @blp.operation("updateCampaign", 200, CampaignEnvelope, errors=(401, 404, 409),
                   body=CampaignUpdateSchema, headers=ETAG_HEADER, if_match=True, example={
        "settings": {"from_email": "ada@acme.test", "from_name": "Ada from Acme",
                     "daily_limit": 200, "timezone": "Europe/Paris"},
        "sequence": [{"subject": "Quick question, {{ firstName }}",
                      "body": "Hi {{ firstName | default('there') }}, ..."},
                     {"subject": "", "body": "Following up.", "delay": 3,
                      "delay_unit": "days"}]})
    def patch(self, changes, campaign_id):
        """Update name, goal, settings (merged key by key) or the whole sequence

        Only the keys sent change; settings merge key by key, and a sequence replaces
        the whole sequence (on a draft or a paused campaign). A completed campaign
        changes no more (409).
        """
        campaign = service.update_campaign(g.tenant, campaign_id, changes=changes,
                                           expected_version=etag_version(request))
        return with_etag({"success": True, "data": campaign}, campaign)

    @blp.operation("deleteCampaign", 200, DeletedEnvelope, errors=(401, 404, 409),
                   if_match=True)
    def delete(self, campaign_id):
        """Delete a campaign that is not active

        The campaign goes with its leads and messages; an active one must be paused
        first (409 `campaign_active`).
        """
        campaign = service.delete_campaign(g.tenant, campaign_id,
                                           expected_version=etag_version(request))
        return {"success": True, "data": {"id": campaign.id, "deleted": True}}


@blp.route("/<string:campaign_id>/send")
class CampaignSend(MethodView):
    @blp.operation("sendCampaignAction", 200, CampaignEnvelope, errors=(401, 404, 409),
                   body=SendSchema, example={"action": "start"}, headers=ETAG_HEADER,
                   if_match=True, idempotency_key=True)
    def post(self, data, campaign_id):
        """Start, pause or resume sending

        `start` a draft that has a sequence, leads and a sender (else 409
        `start_blocked`), `pause` an active campaign, `resume` a paused one. An action
        that would not change the status is a 409 `invalid_transition`, except one that
        is already done (the answer is the campaign as it is).
        """
        campaign, _changed = service.apply_action(
            g.tenant, campaign_id, action=data["action"], api_key=g.api_key,
            expected_version=etag_version(request))
        return with_etag({"success": True, "data": campaign}, campaign)


@blp.route("/<string:campaign_id>/events")
class CampaignEvents(MethodView):
    @blp.operation("listCampaignEvents", 200, EventListEnvelope, query=EventListQuerySchema)
    def get(self, args, campaign_id):
        """List a campaign's events, newest first, by cursor

        What happened in the campaign (status changes, messages sent, bounced or failed,
        opens, clicks, replies, unsubscribes), with the data webhooks receive, whether or
        not a webhook took them. Filter by `type` or `lead_id`; page with
        `starting_after` (the `pagination.next_cursor` of the previous page).
        """
        items, has_more = activity.list_events(g.tenant, campaign_id, **args)
        return cursor_body(items, args["limit"], has_more)
