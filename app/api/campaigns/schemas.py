import re

import marshmallow as ma
from marshmallow import validate

from app.api.core.schemas import Schema, UTCDateTime, envelope
from app.api.fields import (
    HeaderText,
    MailAddress,
    StrictBoolean,
    StrictInteger,
    TrimmedString,
    no_header_controls,
    valid_timezone,
)
from app.api.paging import WorkspacePageQuerySchema, cursor_envelope, cursor_field, offset_field
from app.lifecycle import CampaignStatus
from app.mail.templates import syntax_error
from app.models import GOALS, MAX_STEPS, WEEKDAYS
from app.services.campaigns import ACTIONS, MAX_CAMPAIGN_MAILBOXES, action_states
from app.services.webhooks import EVENT_TYPES

HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
DELAY_UNITS = ("minutes", "hours", "days")
MAX_DELAY_MINUTES = 365 * 24 * 60
UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": 1440}
WINDOW_ERROR = "The schedule must end after it starts (same day, local time)."


# ---- requests ----------------------------------------------------------------------

class CampaignListQuerySchema(WorkspacePageQuerySchema):
    status = ma.fields.String(validate=validate.OneOf(tuple(CampaignStatus)),
                              metadata={"description": "Only campaigns in this status."})
    offset = offset_field()
    starting_after = cursor_field("campaign")


class CampaignCreateSchema(Schema):
    """A new campaign: a draft with no steps and no leads, and default settings."""
    workspace_slug = ma.fields.String(required=True, validate=validate.Length(1, 100),
                                      metadata={"description": "The workspace it belongs to.",
                                                "example": "acme-corp"})
    name = TrimmedString(required=True, validate=validate.Length(1, 200),
                         metadata={"description": "Shown to you, never to leads.",
                                   "example": "Q4 outreach"})
    goal = ma.fields.String(load_default="lead_gen", validate=validate.OneOf(GOALS))


class ScheduleSchema(Schema):
    """When mail may leave, in the campaign's time zone; each key optional on a PATCH."""
    days = ma.fields.List(ma.fields.String(validate=validate.OneOf(WEEKDAYS)),
                          validate=validate.Length(1, 7),
                          metadata={"description": "The days mail may leave, each once.",
                                    "example": ["mon", "tue", "wed", "thu", "fri"]})
    start = ma.fields.String(validate=validate.Regexp(HHMM, error="Use HH:MM (24-hour)."),
                             metadata={"description": "From this local time (HH:MM).",
                                       "example": "09:00"})
    end = ma.fields.String(validate=validate.Regexp(HHMM, error="Use HH:MM (24-hour)."),
                           metadata={"description": "Until this local time (HH:MM, up to "
                                                    "24:00), after start.",
                                     "example": "17:00"})

    @ma.validates("days")
    def _unique_days(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ma.ValidationError("List each day once.")

    @ma.validates_schema(skip_on_field_errors=True)
    def _ends_after_start(self, data, **kwargs):
        # Both ends given: checked here so it is reported with every other bad field.
        # One end given: the service checks it against the stored other end.
        if "start" in data and "end" in data and data["start"] >= data["end"]:
            raise ma.ValidationError(WINDOW_ERROR, field_name="end")


class SettingsSchema(Schema):
    """Every key optional: a PATCH changes only the keys it sends."""
    daily_limit = StrictInteger(validate=validate.Range(1, 10000), metadata={
        "description": "Most messages the campaign sends in a day.", "example": 200})
    track_opens = StrictBoolean(metadata={"description": "Add an open pixel to each message."})
    track_clicks = StrictBoolean(metadata={
        "description": "Send links through a redirect that records the click."})
    stop_on_reply = StrictBoolean(metadata={
        "description": "A lead who replies gets no further steps."})
    timezone = ma.fields.String(validate=[validate.Length(1, 64), valid_timezone], metadata={
        "description": "An IANA time zone name, for the schedule.",
        "example": "Europe/Paris"})
    schedule = ma.fields.Nested(ScheduleSchema)
    from_name = HeaderText(allow_none=True, validate=validate.Length(0, 100), metadata={
        "description": "The sender's display name.", "example": "Ada from Acme"})
    from_email = MailAddress(allow_none=True, metadata={
        "description": "The sender's address; needed to start.", "example": "ada@acme.test"})
    reply_to = MailAddress(allow_none=True, metadata={
        "description": "Where replies go, when not to from_email."})
    mailboxes = ma.fields.List(
        ma.fields.String(validate=validate.Length(1, 64)),
        validate=validate.Length(0, MAX_CAMPAIGN_MAILBOXES),
        metadata={"description": (
            "Ids of the workspace's mailboxes to send from, replacing the list. Empty: "
            "send through the operator's relay as `from_email`. An id that is not a "
            "mailbox of the campaign's workspace is a 422. Each lead is mailed from one "
            "of them for its whole sequence.")})

    @ma.validates("mailboxes")
    def _unique_mailboxes(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ma.ValidationError("A mailbox is listed twice.")


def _template(value):
    error = syntax_error(value)
    if error:
        raise ma.ValidationError(f"The template does not parse: {error.rstrip('.')}.")


class StepSchema(Schema):
    """One email of the sequence, as sent in a request."""
    step = StrictInteger(validate=validate.Range(1, MAX_STEPS),
                         metadata={"description": "Position, 1..n; optional on input."})
    type = ma.fields.String(load_default="email", validate=validate.OneOf(["email"]))
    subject = ma.fields.String(load_default="", validate=[validate.Length(0, 998), no_header_controls, _template],
                               metadata={"description": "Empty on a later step: reply in "
                                                        "the same thread ('Re: ' + step 1)."})
    body = ma.fields.String(required=True, validate=[validate.Length(1, 100_000), _template],
                            metadata={"description": "The text, a template: "
                                                     "{{ firstName }}, {{ lastName }}, "
                                                     "{{ email }}, {{ company }} and each "
                                                     "custom field by its name.",
                                      "example": "Hi {{ firstName | default('there') }}, ..."})
    delay = StrictInteger(validate=validate.Range(0, MAX_DELAY_MINUTES),
                          metadata={"description": "Wait after the previous step (step 1: "
                                                   "after launch). Default 0 on step 1, "
                                                   "else 1 day."})
    delay_unit = ma.fields.String(load_default="days", validate=validate.OneOf(DELAY_UNITS))


class SequenceField(ma.fields.List):
    """The whole sequence: steps numbered 1..n in order, step 1 with a subject."""

    def __init__(self, **kwargs):
        super().__init__(ma.fields.Nested(StepSchema), validate=validate.Length(0, MAX_STEPS),
                         **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        # Field errors inside steps and the rules across steps are reported together.
        try:
            steps = super()._deserialize(value, attr, data, **kwargs)
            errors = {}
        except ma.ValidationError as exc:
            if not isinstance(exc.messages, dict) or not isinstance(value, list):
                raise
            steps, errors = value, dict(exc.messages)
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            problems = {}
            number = step.setdefault("step", index + 1)
            if number != index + 1:
                problems["step"] = [f"Steps are numbered 1..n in order; expected {index + 1}."]
            subject = step.get("subject", "")
            if index == 0 and isinstance(subject, str) and not subject.strip():
                problems["subject"] = ["Step 1 needs a subject."]
            if not errors:
                if "delay" not in step:
                    step["delay"], step["delay_unit"] = (0, "days") if index == 0 else (1, "days")
                if step["delay"] * UNIT_MINUTES[step["delay_unit"]] > MAX_DELAY_MINUTES:
                    problems["delay"] = ["A delay is at most 365 days."]
            if problems:
                merged = errors.setdefault(index, {})
                for field, messages in problems.items():
                    merged.setdefault(field, [])
                    merged[field] = list(merged[field]) + messages
        if errors:
            raise ma.ValidationError(errors)
        return steps


class CampaignUpdateSchema(Schema):
    """The changes to make: only the keys sent change."""
    name = TrimmedString(validate=validate.Length(1, 200),
                         metadata={"description": "A new name."})
    goal = ma.fields.String(validate=validate.OneOf(GOALS))
    settings = ma.fields.Nested(SettingsSchema)
    sequence = SequenceField(metadata={
        "description": "The whole sequence, replacing the one there (only on a draft or a "
                       "paused campaign)."})


class SendSchema(Schema):
    """The status change to make."""
    action = ma.fields.String(required=True, validate=validate.OneOf(ACTIONS))


# ---- responses ---------------------------------------------------------------------

class StatsSchema(Schema):
    """What the campaign's mail has done so far, in messages and leads."""
    sent = ma.fields.Integer(required=True)
    opened = ma.fields.Integer(required=True)
    replied = ma.fields.Integer(required=True)
    clicked = ma.fields.Integer(required=True)
    bounced = ma.fields.Integer(required=True)
    unsubscribed = ma.fields.Integer(required=True)


class CampaignSummarySchema(Schema):
    """A campaign as lists show it."""
    id = ma.fields.String(required=True, metadata={"example": "cmp_01jd3v0m4h8x3q2w9e7r6t5y4u"})
    name = ma.fields.String(required=True, metadata={"example": "Q4 outreach"})
    status = ma.fields.String(required=True, validate=validate.OneOf(tuple(CampaignStatus)))
    goal = ma.fields.String(required=True, validate=validate.OneOf(GOALS))
    stats = ma.fields.Nested(StatsSchema, required=True)
    created_at = UTCDateTime(required=True, metadata={"example": "2025-11-01T10:00:00Z"})
    updated_at = UTCDateTime(required=True, metadata={"example": "2025-11-01T10:05:00Z"})


class StepOutSchema(Schema):
    """One email of the sequence, as stored."""
    step = ma.fields.Integer(required=True, metadata={"description": "Position, 1..n."})
    type = ma.fields.String(required=True, validate=validate.OneOf(["email"]))
    subject = ma.fields.String(required=True, metadata={
        "description": "Empty on a later step that replies in the same thread."})
    body = ma.fields.String(required=True, metadata={"description": "The text template."})
    delay = ma.fields.Integer(required=True, metadata={
        "description": "Wait after the previous step (step 1: after launch)."})
    delay_unit = ma.fields.String(required=True, validate=validate.OneOf(DELAY_UNITS))


class ScheduleOutSchema(Schema):
    """When mail may leave, in the campaign's time zone."""
    days = ma.fields.List(ma.fields.String(validate=validate.OneOf(WEEKDAYS)), required=True)
    start = ma.fields.String(required=True, metadata={"example": "09:00"})
    end = ma.fields.String(required=True, metadata={"example": "17:00"})


class SettingsOutSchema(Schema):
    """How the campaign sends."""
    daily_limit = ma.fields.Integer(required=True)
    track_opens = ma.fields.Boolean(required=True)
    track_clicks = ma.fields.Boolean(required=True)
    stop_on_reply = ma.fields.Boolean(required=True)
    timezone = ma.fields.String(required=True)
    schedule = ma.fields.Nested(ScheduleOutSchema, required=True)
    from_name = ma.fields.String(required=True, allow_none=True)
    from_email = ma.fields.String(required=True, allow_none=True)
    reply_to = ma.fields.String(required=True, allow_none=True)
    mailboxes = ma.fields.List(ma.fields.String(), dump_default=list, metadata={
        "description": "The mailboxes the campaign sends from; empty: the relay."})


class BlockedActionSchema(Schema):
    """An action that would not move the campaign now, and why."""
    action = ma.fields.String(required=True, validate=validate.OneOf(ACTIONS))
    code = ma.fields.String(required=True, metadata={
        "description": "The error code /send would answer, or `no_op`.",
        "example": "start_blocked"})
    reason = ma.fields.String(required=True, metadata={"description": "A sentence saying why."})


class CampaignDetailSchema(CampaignSummarySchema):
    """A campaign with its sequence, settings, stats and the actions it allows now."""
    workspace_slug = ma.fields.String(required=True, attribute="workspace.slug")
    sequence = ma.fields.List(ma.fields.Nested(StepOutSchema), required=True)
    settings = ma.fields.Nested(SettingsOutSchema, required=True)
    allowed_actions = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(ACTIONS)), required=True,
        metadata={"description": "The /send actions that would change the status now."})
    blocked_actions = ma.fields.List(
        ma.fields.Nested(BlockedActionSchema), required=True,
        metadata={"description": "Every other action, with why it would not move the "
                                 "campaign (a no-op or a 409)."})
    version = ma.fields.Integer(required=True, metadata={
        "description": "Goes up with every change; the ETag carries it (If-Match)."})
    launched_at = UTCDateTime(required=True, allow_none=True,
                              metadata={"description": "When it was first started."})
    completed_at = UTCDateTime(required=True, allow_none=True,
                               metadata={"description": "When its last lead finished."})
    next_send_at = UTCDateTime(
        required=True, allow_none=True, dump_only=True,
        metadata={"description": "When the campaign's next mail is due (UTC), as the "
                                 "dispatcher plans it; null when nothing is scheduled "
                                 "(a draft, paused or completed campaign, or no lead "
                                 "due)."})

    @ma.pre_dump
    def _actions(self, campaign, **kwargs):
        states = action_states(campaign)
        campaign.allowed_actions = [a for a, s in states.items() if s is None]
        campaign.blocked_actions = [{"action": a, "code": s[0], "reason": s[1]}
                                    for a, s in states.items() if s is not None]
        return campaign


CampaignEnvelope = envelope(CampaignDetailSchema, "CampaignEnvelope")
CampaignListEnvelope = envelope(CampaignSummarySchema, "CampaignListEnvelope", paginated=True)


class EventListQuerySchema(Schema):
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(1, 100),
                              metadata={"description": "Page size, 1 to 100."})
    starting_after = ma.fields.String(validate=validate.Length(1, 64), metadata={
        "description": "Cursor: the id of the last event of the previous page "
                       "(pagination.next_cursor). Costs the same at any depth."})
    type = ma.fields.String(validate=validate.OneOf(EVENT_TYPES), metadata={
        "description": "Only events of this type."})
    lead_id = ma.fields.String(validate=validate.Length(1, 64), metadata={
        "description": "Only events about this lead."})


class EventSchema(Schema):
    """Something that happened in a campaign, with the data webhooks receive for it: the
    campaign started, paused, resumed or completed; a message sent, bounced or failed; a
    lead opened, clicked, replied, unsubscribed, completed or was suppressed."""
    id = ma.fields.String(required=True, metadata={
        "example": "evt_01jd3v0m4h8x3q2w9e7r6t5y4u",
        "description": "The event's id; webhooks that took it got it as webhook-id."})
    type = ma.fields.String(required=True, validate=validate.OneOf(EVENT_TYPES), metadata={
        "description": "As in webhooks: campaign.*, message.*, lead.*."})
    created_at = UTCDateTime(required=True, metadata={"description": "When it happened."})
    lead_id = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "The lead it is about (null for campaign.* events)."})
    message_id = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "The message it is about, when there is one."})
    step = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "The sequence step of that message, when there is one."})
    data = ma.fields.Dict(required=True, metadata={
        "description": "The event's data as webhooks receive it (campaign_id, lead_id, "
                       "email, message_id, step, error: what the type carries)."})


EventListEnvelope = cursor_envelope(EventSchema, "CampaignEventListEnvelope")
