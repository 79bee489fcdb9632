"""Opens, clicks and unsubscribes, each proven by an encrypted token from a sent message."""
from dataclasses import dataclass

from app.database import transaction
from app.errors import NotFound
from app.mail import tokens
from app.models import Campaign, Lead, Message, Workspace
from app.services import outcomes


def _gone():
    return NotFound("This link is not valid.", code="invalid_link")


def _message(message_pk):
    if not isinstance(message_pk, str):
        raise _gone()
    message = (Message.select(Message, Lead).join(Lead)
               .where(Message.id == message_pk).first())
    if message is None:
        raise _gone()
    return message


def record_open(secret, token):
    message = _message(tokens.read(secret, "open", token))
    with transaction():
        outcomes.record_open(message.lead, message=message)


def record_click(secret, token):
    """The URL to redirect to: only ever the one signed into the message."""
    payload = tokens.read(secret, "click", token)
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], str)
            and payload[1].startswith(("http://", "https://"))):
        raise _gone()
    message = _message(payload[0])
    with transaction():
        outcomes.record_click(message.lead, message=message)
    return payload[1]


def _unsubscribe_target(payload):
    """(lead id, workspace id, address) from a token's payload; ids only in older links."""
    if isinstance(payload, str):
        return payload, None, None
    if (isinstance(payload, list) and len(payload) == 3
            and all(isinstance(part, str) for part in payload)):
        return tuple(payload)
    raise _gone()


@dataclass(frozen=True)
class UnsubscribeLink:
    """What the page behind an unsubscribe link shows: who sent the mail, and to which
    address, partly masked (the link may be shown to someone else than its owner)."""

    sender: str
    masked_address: str


def mask(address):
    """``grace@example.com`` -> ``g***@example.com``."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def unsubscribe_link(secret, token):
    """What an unsubscribe link is about, changing nothing (a mail scanner may fetch
    the link: only a POST unsubscribes)."""
    lead_id, workspace_id, email = _unsubscribe_target(
        tokens.read(secret, "unsubscribe", token))
    lead = (Lead.select(Lead, Campaign, Workspace).join(Campaign)
            .switch(Lead).join(Workspace).where(Lead.id == lead_id).first())
    if lead is not None:
        settings = lead.campaign.settings or {}
        sender = (settings.get("from_name") or settings.get("from_email")
                  or lead.workspace.name)
        return UnsubscribeLink(sender=sender, masked_address=mask(lead.email))
    workspace = Workspace.get_or_none(Workspace.id == workspace_id) if workspace_id else None
    if workspace is None:
        raise _gone()
    return UnsubscribeLink(sender=workspace.name, masked_address=mask(email))


def unsubscribe(secret, token):
    """Unsubscribe the address a link was sent to; returns that address."""
    lead_id, workspace_id, email = _unsubscribe_target(
        tokens.read(secret, "unsubscribe", token))
    with transaction():
        lead = Lead.get_or_none(Lead.id == lead_id)
        if lead is not None:
            outcomes.record_unsubscribe(lead)
            return lead.email
        # The lead or its campaign was deleted since the mail went out: the address
        # still leaves the workspace, as long as the workspace exists.
        if workspace_id is None or Workspace.get_or_none(Workspace.id == workspace_id) is None:
            raise _gone()
        outcomes.unsubscribe_address(workspace_id, email)
        return email
