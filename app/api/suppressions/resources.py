import marshmallow as ma
from flask import g
from flask.views import MethodView

from app.api.core.blueprint import Blueprint
from app.api.core.schemas import load_each
from app.api.paging import cursor_body
from app.api.suppressions.schemas import (
    INVALID,
    SuppressionDeletedEnvelope,
    SuppressionDeleteQuerySchema,
    SuppressionInSchema,
    SuppressionListEnvelope,
    SuppressionListQuerySchema,
    SuppressionsAddedEnvelope,
    SuppressionsAddSchema,
    WorkspaceQuerySchema,
    normal_value,
)
from app.errors import NotFound
from app.services import suppressions as service

blp = Blueprint("suppressions", __name__,
                description="Addresses and domains a workspace never mails.")
_item_schema = SuppressionInSchema()


@blp.route("")
class Suppressions(MethodView):
    @blp.operation("listSuppressions", 200, SuppressionListEnvelope,
                   query=SuppressionListQuerySchema)
    def get(self, args):
        """List a workspace's suppressed addresses and domains, newest first, by cursor

        Every address and domain the workspace never mails, whether added here, by an
        unsubscribe link or by a hard bounce (see `source`). Filter by `kind`; page with
        `starting_after` (the `pagination.next_cursor` of the previous page).
        """
        items, has_more = service.list_suppressions(g.tenant, **args)
        return cursor_body(items, args["limit"], has_more, lambda item: item.email)

    @blp.operation("addSuppressions", 200, SuppressionsAddedEnvelope,
                   query=WorkspaceQuerySchema, body=SuppressionsAddSchema,
                   idempotency_key=True, example={"suppressions": [
        {"value": "jane@acme.com", "reason": "Asked by phone not to be mailed."},
        {"value": "competitor.com", "kind": "domain"}]})
    def post(self, query, data):
        """Suppress up to 1000 addresses or domains, each validated alone

        Each item is answered in `results`: created, already_present or invalid (with
        `errors`). The workspace's open leads that the new values match end at once, as
        `suppressed`, with a `lead.suppressed` event each; `leads_ended` counts them.
        """
        valid, invalid = load_each(_item_schema, data["suppressions"])
        invalid = [{"index": index,
                    "value": item.get("value") if isinstance(item, dict) else None,
                    "kind": None, "result": INVALID, "errors": messages}
                   for index, item, messages in invalid]
        results, ended = service.add_suppressions(
            g.tenant, workspace=query["workspace"], items=[item for _, item in valid])
        answered = [{"index": index, "value": item["value"], "kind": item["kind"],
                     "result": result} for (index, item), result in zip(valid, results, strict=True)]
        answered = sorted(answered + invalid, key=lambda row: row["index"])
        counts = {name: sum(row["result"] == name for row in answered)
                  for name in (service.CREATED, service.ALREADY_PRESENT, INVALID)}
        return {"success": True, "data": {**counts, "leads_ended": ended,
                                          "results": answered}}

    @blp.operation("deleteSuppression", 200, SuppressionDeletedEnvelope,
                   query=SuppressionDeleteQuerySchema)
    def delete(self, args):
        """Take an address or domain off the list; leads it ended stay ended

        The value is matched as it is stored (any case; a domain in Unicode or `xn--`
        form). Leads added later to the address or domain are mailed again; those it
        ended keep their status. A value not on the list is a 404,
        `suppression_not_found`.
        """
        try:
            value = normal_value(args["value"].strip())
        except ma.ValidationError:
            # Nothing that fails validation was ever stored.
            raise NotFound(f"No suppression '{args['value']}' in this workspace.",
                           code="suppression_not_found",
                           details={"value": args["value"]}) from None
        service.delete_suppression(g.tenant, workspace=args["workspace"], value=value)
        return {"success": True, "data": {"value": value, "deleted": True}}
