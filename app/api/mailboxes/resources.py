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
    @blp.operation("listMailboxes", 200, MailboxListEnvelope, query=MailboxListQuerySchema)
    def get(self, args):
        """List a workspace's mailboxes, newest first

        A page of the workspace's mailboxes, with today's count and cap (never their
        passwords).
        """
        items, total = service.list_mailboxes(g.tenant, **args)
        return page_body(items, total, args)

    @blp.operation("createMailbox", 201, MailboxEnvelope, errors=(401, 404, 409),
                   body=MailboxCreateSchema, idempotency_key=True, example={
        "workspace_slug": "acme-corp", "email": "ada@acme.test", "from_name": "Ada",
        "smtp": {"host": "smtp.acme.test", "port": 587, "security": "starttls",
                 "username": "ada@acme.test", "password": "app-password"},
        "daily_limit": 50})
    def post(self, data):
        """Add a mailbox (its passwords are stored encrypted and never returned)

        Campaigns of the workspace send through its mailboxes, each within its daily
        cap and warm-up. An address the workspace has already is a 409.
        """
        return {"success": True, "data": service.create_mailbox(g.tenant, **data)}


@blp.route("/<string:mailbox_id>")
class MailboxById(MethodView):
    @blp.operation("getMailbox", 200, MailboxEnvelope)
    def get(self, mailbox_id):
        """Get a mailbox with today's count and cap

        `limit_today` is the cap after warm-up, in the mailbox's time zone.
        """
        return {"success": True, "data": service.get_mailbox(g.tenant, mailbox_id)}

    @blp.operation("updateMailbox", 200, MailboxEnvelope, errors=(401, 404, 409),
                   body=MailboxUpdateSchema, example={"daily_limit": 80, "status": "paused"})
    def patch(self, changes, mailbox_id):
        """Update a mailbox, merged key by key; pause or resume it

        Only the keys sent change, the servers' keys one by one; `imap: null` removes
        IMAP. Resuming a mailbox in error clears its error.
        """
        return {"success": True,
                "data": service.update_mailbox(g.tenant, mailbox_id, changes=changes)}

    @blp.operation("deleteMailbox", 200, MailboxDeletedEnvelope, errors=(401, 404, 409))
    def delete(self, mailbox_id):
        """Delete a mailbox no active campaign sends through alone

        A mailbox an active campaign needs (no other mailbox could send for it) is a 409
        `mailbox_in_use`.
        """
        mailbox = service.delete_mailbox(g.tenant, mailbox_id)
        return {"success": True, "data": {"id": mailbox.id, "deleted": True}}


@blp.route("/<string:mailbox_id>/test")
class MailboxTest(MethodView):
    @blp.operation("testMailbox", 200, ConnectionTestEnvelope, idempotency_key=True)
    def post(self, mailbox_id):
        """Log in to the mailbox's SMTP (and IMAP) server and say whether it worked

        Nothing is sent; each server's outcome is in the answer, with why a login
        failed.
        """
        mailbox = service.get_mailbox(g.tenant, mailbox_id)
        result = service.test_connection(
            mailbox, timeout=current_app.config["MAILBOX_TEST_TIMEOUT"],
            allow_private=current_app.config["MAILBOX_ALLOW_PRIVATE"])
        return {"success": True, "data": result}
