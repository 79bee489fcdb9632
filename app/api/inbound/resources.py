"""Inbound mail: replies, automatic replies and bounces, as a provider's route posts them."""
import hmac

import marshmallow as ma
from flask import current_app, g, request
from flask.views import MethodView

from app.api.core.blueprint import Blueprint
from app.api.core.schemas import Schema, envelope
from app.errors import Unauthorized, UnsupportedMediaType
from app.services import inbound as service

INBOUND_SECURITY = "inboundSecret"


class InboundResultSchema(Schema):
    """What the message was taken for, and the lead it concerned."""
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ["reply", "auto_reply", "bounce", "ignored"]))
    lead_id = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "The lead it concerned; null when it matched none."})


InboundEnvelope = envelope(InboundResultSchema, "InboundEnvelope")


def _check_secret():
    expected = current_app.config.get("INBOUND_SECRET")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), expected.encode()):
        raise Unauthorized("Send the inbound secret as 'Authorization: Bearer <INBOUND_SECRET>'.")
    # Checked before the Idempotency-Key hook, which needs a scope: one for all inbound
    # mail, apart from every tenant's keys.
    g.idempotency_scope = "inbound"


blp = Blueprint("inbound", __name__, authenticate=_check_secret,
                description="Raw RFC 822 messages from your mail provider's inbound route.")


@blp.route("/email")
class InboundEmail(MethodView):
    @blp.doc(security=[{INBOUND_SECURITY: []}], operationId="receiveInboundEmail", requestBody={
        "required": True, "description": "The whole message, headers and body, as received.",
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}})
    @blp.response(200, InboundEnvelope)
    @blp.errors(401, 413, 415)
    @blp.idempotent
    def post(self):
        """Take one inbound message (a reply, an automatic reply or a bounce)

        Point your mail provider's inbound route here. The message is matched to the
        lead it answers, by its headers or a bounce report's.
        """
        if request.mimetype != "message/rfc822":
            raise UnsupportedMediaType("Send the raw message with Content-Type: message/rfc822.")
        return {"success": True, "data": service.receive(request.get_data())}
