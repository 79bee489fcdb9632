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
    @blp.arguments(CampaignListQuerySchema, location="query")
    @blp.response(200, CampaignListEnvelope)
    @blp.errors(401, 404)
    def get(self, args):
        """List a workspace's campaigns, newest first"""
        items, total, has_more = service.list_campaigns(g.tenant, **args)
        return page_body(items, total, args, has_more=has_more)

    @blp.arguments(CampaignCreateSchema)
    @blp.response(201, CampaignEnvelope, headers=ETAG_HEADER)
    @blp.errors(401, 404)
    @blp.idempotent
    def post(self, data):
        """Create a campaign draft"""
        campaign = service.create_campaign(g.tenant, **data)
        return with_etag({"success": True, "data": campaign}, campaign)


@blp.route("/<string:campaign_id>")
class CampaignById(MethodView):
    @blp.response(200, CampaignEnvelope, headers=ETAG_HEADER)
    @blp.errors(401, 404)
    def get(self, campaign_id):
        """Get a campaign with its sequence, settings, stats and allowed actions"""
        campaign = service.get_campaign(g.tenant, campaign_id)
        return with_etag({"success": True, "data": campaign}, campaign)

    @blp.arguments(CampaignUpdateSchema)
    @blp.response(200, CampaignEnvelope, headers=ETAG_HEADER)
    @blp.errors(401, 404, 409)
    @blp.conditional
    def patch(self, changes, campaign_id):
        """Update name, goal, settings (merged key by key) or the whole sequence"""
        campaign = service.update_campaign(g.tenant, campaign_id, changes=changes,
                                           expected_version=etag_version(request))
        return with_etag({"success": True, "data": campaign}, campaign)

    @blp.response(200, DeletedEnvelope)
    @blp.errors(401, 404, 409)
    @blp.conditional
    def delete(self, campaign_id):
        """Delete a campaign that is not active"""
        campaign = service.delete_campaign(g.tenant, campaign_id,
                                           expected_version=etag_version(request))
        return {"success": True, "data": {"id": campaign.id, "deleted": True}}


@blp.route("/<string:campaign_id>/send")
class CampaignSend(MethodView):
    @blp.arguments(SendSchema)
    @blp.response(200, CampaignEnvelope, headers=ETAG_HEADER)
    @blp.errors(401, 404, 409)
    @blp.accepts(if_match=True, idempotency_key=True)
    def post(self, data, campaign_id):
        """Start, pause or resume sending"""
        campaign, _changed = service.apply_action(
            g.tenant, campaign_id, action=data["action"], api_key=g.api_key,
            expected_version=etag_version(request))
        return with_etag({"success": True, "data": campaign}, campaign)


@blp.route("/<string:campaign_id>/events")
class CampaignEvents(MethodView):
    @blp.doc(operationId="listCampaignEvents")
    @blp.arguments(EventListQuerySchema, location="query")
    @blp.response(200, EventListEnvelope)
    @blp.errors(401, 404)
    def get(self, args, campaign_id):
        """List a campaign's events, newest first, by cursor"""
        items, has_more = activity.list_events(g.tenant, campaign_id, **args)
        return cursor_body(items, args["limit"], has_more)
