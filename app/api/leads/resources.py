from flask import g
from flask.views import MethodView

from app.api.core.blueprint import Blueprint
from app.api.core.schemas import DeletedSchema, envelope, load_each, page_body
from app.api.leads.schemas import (
    LeadDetailEnvelope,
    LeadInSchema,
    LeadListEnvelope,
    LeadListQuerySchema,
    LeadsAddedEnvelope,
    LeadsAddSchema,
)
from app.services import leads as service

blp = Blueprint("leads", __name__, description="The people a campaign mails.")

LeadDeletedEnvelope = envelope(DeletedSchema, "LeadDeletedEnvelope")
_lead_schema = LeadInSchema()


@blp.route("/<string:campaign_id>/leads")
class CampaignLeads(MethodView):
    @blp.operation("addLeads", 200, LeadsAddedEnvelope, errors=(401, 404, 409),
                   body=LeadsAddSchema, idempotency_key=True, example={"leads": [
        {"email": "grace@globex.test", "first_name": "Grace", "company": "Globex",
         "custom_fields": {"role": "CTO"}},
        {"email": "alan@initech.test", "first_name": "Alan"}]})
    def post(self, data, campaign_id):
        """Add up to 1000 leads; each is validated alone

        The valid leads are added; an invalid one is reported in `invalid` with its
        index and reasons, an address the campaign has is counted in `duplicates`, one
        that unsubscribed or bounced in this workspace in `suppressed`. Not on a
        completed campaign (409).
        """
        valid, invalid = load_each(_lead_schema, data["leads"])
        result = service.add_leads(g.tenant, campaign_id, leads=[lead for _, lead in valid])
        invalid = [{"index": index, "email": item.get("email"), "errors": messages}
                   for index, item, messages in invalid]
        return {"success": True, "data": {**result, "invalid": invalid}}

    @blp.operation("listLeads", 200, LeadListEnvelope, query=LeadListQuerySchema)
    def get(self, args, campaign_id):
        """List a campaign's leads with their sending state

        A page of the campaign's leads, optionally of one status, oldest first. Page with
        limit and offset, or past 10,000 with starting_after.
        """
        items, total, has_more = service.list_leads(g.tenant, campaign_id, **args)
        return page_body(items, total, args, has_more=has_more)


@blp.route("/<string:campaign_id>/leads/<string:lead_id>")
class CampaignLeadById(MethodView):
    @blp.operation("getCampaignLead", 200, LeadDetailEnvelope)
    def get(self, campaign_id, lead_id):
        """Get a lead with its messages: step, subject, status, sent_at and error

        The lead as the list shows it, with `finished_at` and one message per step it
        reached, in step order: what was sent, when, and why it bounced or failed.
        """
        return {"success": True, "data": service.get_lead(g.tenant, campaign_id, lead_id)}

    @blp.operation("deleteLead", 200, LeadDeletedEnvelope)
    def delete(self, campaign_id, lead_id):
        """Remove a lead; nothing more is sent to it

        The lead and its messages are removed from the campaign; mail already sent
        stays sent.
        """
        service.delete_lead(g.tenant, campaign_id, lead_id)
        return {"success": True, "data": {"id": lead_id, "deleted": True}}
