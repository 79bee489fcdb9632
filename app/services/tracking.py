"""Opens, clicks and unsubscribes, each proven by a signed token from a sent message."""
from app.database import transaction
from app.errors import NotFound
from app.models import Lead, Message
from app.sending import outcomes, tokens


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
        outcomes.record_open(message.lead)


def record_click(secret, token):
    """The URL to redirect to: only ever the one signed into the message."""
    payload = tokens.read(secret, "click", token)
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], str)
            and payload[1].startswith(("http://", "https://"))):
        raise _gone()
    message = _message(payload[0])
    with transaction():
        outcomes.record_click(message.lead)
    return payload[1]


def unsubscribe(secret, token):
    lead_id = tokens.read(secret, "unsubscribe", token)
    lead = Lead.get_or_none(Lead.id == lead_id) if isinstance(lead_id, str) else None
    if lead is None:
        raise _gone()
    with transaction():
        outcomes.record_unsubscribe(lead)
    return lead


