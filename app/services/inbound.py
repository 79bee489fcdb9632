"""Inbound mail (a provider's inbound route posting the raw RFC 822 message).

A reply is matched to the message it answers by In-Reply-To / References; automatic
replies are recognised and ignored; delivery status notifications bounce the lead.
Anything else is accepted and ignored, so the provider does not retry it.
"""
import re
from email import policy
from email.parser import BytesParser

from app.database import transaction
from app.models import Campaign, Lead, Message
from app.services import outcomes

MSGID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
OUR_MSGID = re.compile(r"<msg_[0-9a-z]{26}@[^<>\s]+>")
AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|"
    r"abwesenheit|r[ée]ponse automatique|respuesta autom[aá]tica|"
    r"away from (the )?office|on vacation|vacation reply)", re.I)


def _parse(raw):
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def is_auto_reply(msg):
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Autoresponder"):
        return True
    if (msg.get("Precedence") or "").strip().lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    if (msg.get("X-Auto-Response-Suppress") or "").strip().lower() in ("oof", "all"):
        return True
    return bool(AUTO_SUBJECT.match(str(msg.get("Subject") or "")))


def _delivery_status(msg):
    """For a DSN: (is_dsn, permanent_failure)."""
    if msg.get_content_type() != "multipart/report":
        return False, False
    if (msg.get_param("report-type") or "").lower() != "delivery-status":
        return False, False
    text = ""
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            blocks = payload if isinstance(payload, list) else [payload]
            text += "\n".join(b.as_string() if hasattr(b, "as_string") else str(b)
                              for b in blocks)
    action_failed = re.search(r"^Action:\s*failed", text, re.I | re.M) is not None
    permanent = re.search(r"^Status:\s*5\.", text, re.I | re.M) is not None
    return True, action_failed or permanent


def _find_message(ids):
    if not ids:
        return None
    return (Message.select(Message, Lead, Campaign)
            .join(Lead, on=(Message.lead == Lead.id))
            .switch(Message).join(Campaign, on=(Message.campaign == Campaign.id))
            .where(Message.message_id.in_(ids[:50]))
            .order_by(Message.step.desc()).first())


def receive(raw):
    """Process one inbound message; returns {"outcome": ..., "lead_id": ...}."""
    msg = _parse(raw)
    is_dsn, permanent = _delivery_status(msg)
    if is_dsn:
        ids = OUR_MSGID.findall(raw.decode("utf-8", errors="replace"))
        message = _find_message(list(dict.fromkeys(ids)))
        if message is None or not permanent:
            return {"outcome": "ignored", "lead_id": None}
        with transaction():
            outcomes.record_bounce(message.lead, error="bounced (delivery status notification)")
        return {"outcome": "bounce", "lead_id": message.lead.id}

    refs = MSGID.findall(f"{msg.get('In-Reply-To') or ''} {msg.get('References') or ''}")
    message = _find_message(list(dict.fromkeys(reversed(refs))))
    if message is None:
        return {"outcome": "ignored", "lead_id": None}
    if is_auto_reply(msg):
        return {"outcome": "auto_reply", "lead_id": message.lead.id}
    stop = bool(message.campaign.settings.get("stop_on_reply", True))
    with transaction():
        outcomes.record_reply(message.lead, stop=stop)
    return {"outcome": "reply", "lead_id": message.lead.id}
