from flask import current_app, g
from flask.views import MethodView

from app.api.core.blueprint import Blueprint
from app.api.core.schemas import DeletedSchema, envelope, page_body
from app.api.mailboxes.schemas import (
    ConnectionTestEnvelope,
    MailboxCreateSchema,
    MailboxEnvelope,
    MailboxListEnvelope,
    MailboxListQuerySchema,
    MailboxUpdateSchema,
)
from app.services import mailboxes as service

blp = Blueprint("mailboxes", __name__,
                description="The tenant's own mailboxes that campaigns send from.")

MailboxDeletedEnvelope = envelope(DeletedSchema, "MailboxDeletedEnvelope")


@blp.route("")
class Mailboxes(MethodView):
    @blp.doc(operationId="listMailboxes")
    @blp.arguments(MailboxListQuerySchema, location="query")
    @blp.response(200, MailboxListEnvelope)
    @blp.errors(401, 404)
    def get(self, args):
        """List a workspace's mailboxes, newest first"""
        items, total = service.list_mailboxes(g.tenant, **args)
        return page_body(items, total, args)

    @blp.doc(operationId="createMailbox")
    @blp.arguments(MailboxCreateSchema)
    @blp.response(201, MailboxEnvelope)
    @blp.errors(401, 404, 409)
    @blp.idempotent
    def post(self, data):
        """Add a mailbox (its passwords are stored encrypted and never returned)"""
        return {"success": True, "data": service.create_mailbox(g.tenant, **data)}


@blp.route("/<string:mailbox_id>")
class MailboxById(MethodView):
    @blp.doc(operationId="getMailbox")
    @blp.response(200, MailboxEnvelope)
    @blp.errors(401, 404)
    def get(self, mailbox_id):
        """Get a mailbox with today's count and cap"""
        return {"success": True, "data": service.get_mailbox(g.tenant, mailbox_id)}

    @blp.doc(operationId="updateMailbox")
    @blp.arguments(MailboxUpdateSchema)
    @blp.response(200, MailboxEnvelope)
    @blp.errors(401, 404, 409)
    def patch(self, changes, mailbox_id):
        """Update a mailbox, merged key by key; pause or resume it"""
        return {"success": True,
                "data": service.update_mailbox(g.tenant, mailbox_id, changes=changes)}

    @blp.doc(operationId="deleteMailbox")
    @blp.response(200, MailboxDeletedEnvelope)
    @blp.errors(401, 404, 409)
    def delete(self, mailbox_id):
        """Delete a mailbox no active campaign sends through alone"""
        mailbox = service.delete_mailbox(g.tenant, mailbox_id)
        return {"success": True, "data": {"id": mailbox.id, "deleted": True}}


@blp.route("/<string:mailbox_id>/test")
class MailboxTest(MethodView):
    @blp.doc(operationId="testMailbox")
    @blp.response(200, ConnectionTestEnvelope)
    @blp.errors(401, 404)
    @blp.idempotent
    def post(self, mailbox_id):
        """Log in to the mailbox's SMTP (and IMAP) server and say whether it worked"""
        mailbox = service.get_mailbox(g.tenant, mailbox_id)
        result = service.test_connection(
            mailbox, timeout=current_app.config["MAILBOX_TEST_TIMEOUT"],
            allow_private=current_app.config["MAILBOX_ALLOW_PRIVATE"])
        return {"success": True, "data": result}
