"""The OpenAPI documents as API clients read them.

A generated client has one class per component, so each set of choices is one enum
component, referenced wherever a field offers those choices (in requests and answers
alike); a schema's docstring is its description; a path parameter is described once,
here, by its name. ``links_document`` serves the routes that are not for API clients
(the links in sent mail, the inbound route) as a document of their own.
"""
import inspect

from apispec import BasePlugin

from app.api.campaigns.schemas import DELAY_UNITS
from app.api.mailboxes.schemas import CLIENT_STATUSES
from app.api.suppressions.schemas import RESULTS, SOURCES
from app.api.webhooks.schemas import EVENT_CHOICES
from app.lifecycle import ACTIONS, CampaignStatus, LeadStatus, MessageStatus
from app.models import (
    DELIVERY_STATUSES,
    GOALS,
    MAILBOX_STATUSES,
    SECURITY_MODES,
    WEBHOOK_STATUSES,
    WEEKDAYS,
)
from app.outbox import EVENT_TYPES
from app.services.suppressions import KINDS

INBOUND_OUTCOMES = ("reply", "auto_reply", "bounce", "ignored")

# Name -> (choices, description). A field whose choices are exactly one of these refers
# to the component; tests/api/test_openapi_contract.py fails on any other string enum.
ENUMS = {
    "CampaignStatus": (tuple(CampaignStatus), (
        "Where a campaign is in its life: `draft` (being written; nothing sent), `active` "
        "(sending), `paused` (stopped by you; resume to go on), `completed` (every lead "
        "finished the sequence).")),
    "CampaignGoal": (GOALS, "What the campaign is for; a label for your reports."),
    "CampaignAction": (ACTIONS, (
        "What `POST /campaigns/{campaign_id}/send` does: `start` a draft, `pause` an active "
        "campaign, `resume` a paused one.")),
    "LeadStatus": (tuple(LeadStatus), (
        "Where a lead is in the sequence: `pending` (nothing sent yet), `in_progress`, "
        "`completed` (every step sent), `replied`, `bounced`, `unsubscribed`, `failed` "
        "(a message could not be sent; see `last_error`).")),
    "MessageStatus": (tuple(MessageStatus), (
        "Where a lead's mail for one step is: `claimed` (due, about to be sent), `sending`, "
        "`sent` (the server accepted it), `unconfirmed` (sending stopped before the server "
        "answered: it may have been accepted, and is never sent again), `bounced`, `failed` "
        "(see `error`).")),
    "Weekday": (WEEKDAYS, "A day of the week, in the campaign's time zone."),
    "DelayUnit": (DELAY_UNITS, "The unit of a step's `delay`."),
    "StepType": (("email",), "What a step sends; only `email` for now."),
    "WebhookStatus": (WEBHOOK_STATUSES, (
        "`enabled` webhooks receive events; a webhook whose deliveries keep failing is "
        "`disabled` (see `disabled_reason`) until you enable it again.")),
    "WebhookDeliveryStatus": (DELIVERY_STATUSES, (
        "`pending` (due, or to be retried at `next_attempt_at`), `delivered` (a 2xx "
        "answer), `failed` (no more attempts).")),
    "WebhookEventType": (EVENT_TYPES, "The type of an event sent to webhooks."),
    "WebhookEventSelector": (EVENT_CHOICES, (
        "An event type a webhook subscribes to, or `*` for every type.")),
    "MailboxStatus": (MAILBOX_STATUSES, (
        "`active` mailboxes send, `paused` ones do not (you paused them), `error` ones "
        "stopped after a failure (see `last_error`); resume to clear it.")),
    "MailboxStatusChange": (CLIENT_STATUSES, "Pause (`paused`) or resume (`active`) a mailbox."),
    "ServerSecurity": (SECURITY_MODES, (
        "How to reach a mail server: `none` (plain text), `starttls` (upgrade after "
        "connecting), `ssl` (TLS from the first byte).")),
    "SuppressionKind": (KINDS, (
        "`email` suppresses one address; `domain` every address at the domain.")),
    "SuppressionSource": (SOURCES, (
        "How a suppression got on the list: added through the API (`api`), by the lead's "
        "unsubscribe link (`unsubscribed`), or by a hard bounce (`bounced`).")),
    "SuppressionOutcome": (RESULTS, (
        "What became of an item of an add request: `created`, `already_present` (on the "
        "list already, or earlier in the request; left as it was), or `invalid` (see "
        "`errors`).")),
    "InboundOutcome": (INBOUND_OUTCOMES, (
        "What an inbound message was taken for: a `reply` (the lead's sequence stops when "
        "the campaign says so), an `auto_reply` (recorded; nothing stops), a `bounce` (the "
        "lead is marked bounced), or `ignored` (it matched no lead).")),
}
NULL_OBJECT = {"type": "object", "nullable": True}
COMPOSED = {"type", "$ref", "allOf", "anyOf", "oneOf"}
_BY_CHOICES = {tuple(choices): name for name, (choices, _) in ENUMS.items()}

PATH_PARAMETERS = {
    "campaign_id": ("The campaign's id.", "cmp_01jd3v0m4h8x3q2w9e7r6t5y4u"),
    "lead_id": ("The lead's id.", "lead_01jd3v0m4h8x3q2w9e7r6t5y4u"),
    "webhook_id": ("The webhook's id.", "whk_01jd3v0m4h8x3q2w9e7r6t5y4u"),
    "delivery_id": ("The delivery's id.", "whd_01jd3v0m4h8x3q2w9e7r6t5y4u"),
    "mailbox_id": ("The mailbox's id.", "mbx_01jd3v0m4h8x3q2w9e7r6t5y4u"),
    "token": ("The encrypted token of the link in the mail.", None),
}

SERVERS = [{"url": "{origin}", "description": "Where the service runs.",
            "variables": {"origin": {
                "default": "http://localhost:8000",
                "description": "Scheme, host and port: `make run` serves on localhost:8000; "
                               "use your deployment's own."}}}]
CONTACT = {"name": "Campaigns API maintainers"}
# The project grants no license to its code or this document.
LICENSE = {"name": "Proprietary"}


def spec_kwargs(description):
    return {"info": {"description": description, "contact": CONTACT, "license": LICENSE},
            "servers": SERVERS}


class DocumentationPlugin(BasePlugin):
    """Enum components, schema descriptions from docstrings, path parameter texts."""

    def init_spec(self, spec):
        self.spec = spec
        for name, (choices, description) in ENUMS.items():
            # Lazy: a document holds the enums its operations use, and no others.
            spec.components.schema(name, {"type": "string", "enum": list(choices),
                                          "description": description}, lazy=True)

    def enum_reference(self, converter, field, ret, **kwargs):
        """An attribute function (see ``install``): a field offering the choices of a
        named enum refers to it; its other keywords stay beside the reference. One that
        may also be null is the enum or null, as ``nullable_reference`` writes a nested
        schema that may be null."""
        choices = tuple(choice for choice in ret.get("enum") or () if choice is not None)
        name = _BY_CHOICES.get(choices)
        if name is None:
            return {}
        reference = self.spec.components.get_ref("schema", name)
        nullable = ret.pop("nullable", False) or None in ret["enum"]
        for key in ("type", "enum"):
            ret.pop(key, None)
        if nullable:
            ret["anyOf"] = [reference, {**NULL_OBJECT, "enum": [None]}]
        elif ret:  # a description, a default, an example: OpenAPI 3.0 ignores $ref siblings
            ret["allOf"] = [reference]
        else:
            ret.update(reference)
        return {}

    def documented_as(self, converter, field, ret, **kwargs):
        """A field that takes any object and checks it later (the items of a bulk
        request) is documented as the schema it is checked with: metadata
        ``{"documented_as": SchemaClass}``."""
        schema = field.metadata.get("documented_as")
        if schema is None:
            return {}
        keep = {key: ret[key] for key in ("description",) if key in ret}
        ret.clear()
        ret.update(converter.resolve_nested_schema(schema), **keep)
        if keep:
            ret["allOf"] = [{"$ref": ret.pop("$ref")}]
        return {}

    @staticmethod
    def untyped_nullable(converter, field, ret, **kwargs):
        """A field of any type (``Raw``) that allows null: OpenAPI 3.0 has ``nullable``
        mean nothing without a ``type``, and a schema without one admits null already."""
        if ret.get("nullable") and not COMPOSED.intersection(ret):
            del ret["nullable"]
        return {}

    @staticmethod
    def nullable_reference(converter, field, ret, **kwargs):
        """A nested schema that may be null: apispec writes ``anyOf`` of the schema and
        "any object or null", which generated clients read as a class of its own. Here:
        the schema first, then null alone (an object type that admits null and nothing
        else)."""
        any_of = ret.get("anyOf") or []
        if len(any_of) == 2 and NULL_OBJECT in any_of:
            schema = next(item for item in any_of if item != NULL_OBJECT)
            ret["anyOf"] = [schema, {**NULL_OBJECT, "enum": [None]}]
        return {}

    def install(self, ma_plugin):
        """Add the attribute functions to the document's marshmallow plugin (they run
        after apispec's own, on the properties those made)."""
        converter = ma_plugin.converter
        converter.add_attribute_function(
            lambda converter, field, ret, **kw: self.documented_as(converter, field, ret))
        converter.add_attribute_function(
            lambda converter, field, ret, **kw: self.enum_reference(converter, field, ret))
        converter.add_attribute_function(self.untyped_nullable)
        converter.add_attribute_function(self.nullable_reference)

    def schema_helper(self, name, definition, **kwargs):
        """A schema class's own docstring is its component's description."""
        schema = kwargs.get("schema")
        if schema is None or "description" in definition:
            return None
        cls = schema if isinstance(schema, type) else type(schema)
        doc = cls.__dict__.get("__doc__")
        return {"description": inspect.cleandoc(doc)} if doc else None

    def operation_helper(self, path=None, operations=None, **kwargs):
        """A query parameter's description sits beside its schema, so an enum schema
        left as a lone ``allOf`` is the reference itself."""
        for operation in (operations or {}).values():
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema") if isinstance(parameter, dict) else None
                if schema and list(schema) == ["allOf"] and len(schema["allOf"]) == 1:
                    parameter["schema"] = schema["allOf"][0]

    def path_helper(self, path=None, operations=None, parameters=None, **kwargs):
        for parameter in parameters or ():
            if not isinstance(parameter, dict) or parameter.get("in") != "path":
                continue
            text = PATH_PARAMETERS.get(parameter.get("name"))
            if text is not None:
                description, example = text
                parameter.setdefault("description", description)
                if example:
                    parameter.setdefault("example", example)
