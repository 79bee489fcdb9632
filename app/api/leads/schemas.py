import re

import marshmallow as ma
from marshmallow import validate

from app.api.core.schemas import Schema, UTCDateTime, envelope
from app.api.fields import HeaderText, MailAddress
from app.api.paging import PageQuerySchema, cursor_field
from app.lifecycle import LeadStatus, MessageStatus

CUSTOM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_LEADS = 1000


class CustomFields(ma.fields.Dict):
    """Up to 50 flat values (text, number, true/false, null) by identifier-like names."""

    def __init__(self, **kwargs):
        super().__init__(keys=ma.fields.String(), values=ma.fields.Raw(allow_none=True),
                         **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) > 50:
            raise ma.ValidationError("At most 50 custom fields.")
        for key, item in value.items():
            if not CUSTOM_KEY.match(key):
                raise ma.ValidationError(
                    f"'{key[:70]}' is not a usable name: letters, digits and _ only, "
                    "not starting with a digit, at most 64 characters.")
            if item is not None and not isinstance(item, str | int | float | bool):
                raise ma.ValidationError(f"'{key}' must be text, a number, true/false or null.")
            if isinstance(item, str) and len(item) > 1000:
                raise ma.ValidationError(f"'{key}' is longer than 1000 characters.")
        return value


class LeadInSchema(Schema):
    """A lead to add: an address, and what the templates may say about them."""
    email = MailAddress(required=True, metadata={"example": "grace@globex.test"})
    first_name = HeaderText(allow_none=True, validate=validate.Length(0, 200),
                            metadata={"example": "Grace"})
    last_name = HeaderText(allow_none=True, validate=validate.Length(0, 200),
                           metadata={"example": "Hopper"})
    company = HeaderText(allow_none=True, validate=validate.Length(0, 200),
                         metadata={"example": "Globex"})
    custom_fields = CustomFields(load_default=dict, metadata={
        "description": "Up to 50 values for the templates ({{ role }} for `role`): text "
                       "(up to 1000 characters), a number, true/false or null, under names "
                       "of letters, digits and _ (not starting with a digit, up to 64).",
        "example": {"role": "CTO"}})

    @ma.post_load
    def _normalise(self, data, **kwargs):
        # One spelling per address, so duplicates are found whatever form was sent.
        data["email"] = data["email"].lower()
        return data


class LeadsAddSchema(Schema):
    """Leads to add to a campaign."""
    # Items are checked one by one (each bad one is reported with its index while the
    # good ones are added), so the envelope documents them as loosely as it accepts them.
    CHECKED_ALONE = ("leads",)
    leads = ma.fields.List(ma.fields.Dict(metadata={"documented_as": LeadInSchema}),
                           required=True, validate=validate.Length(1, MAX_LEADS),
                           metadata={"description": "Up to 1000 leads. Each is checked "
                                                    "alone: the valid ones are added and "
                                                    "each invalid one is reported in "
                                                    "`invalid`."})


class LeadListQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=validate.OneOf(tuple(LeadStatus)),
                              metadata={"description": "Only leads in this status."})
    starting_after = cursor_field("lead")


class InvalidLeadSchema(Schema):
    """A lead that was not added, and why."""
    index = ma.fields.Integer(required=True, metadata={
        "description": "Its position in the request's `leads`, from 0."})
    email = ma.fields.Raw(required=True, metadata={
        "description": "Its `email` as sent, whatever it was (null when missing)."})
    errors = ma.fields.Dict(required=True, metadata={
        "description": "The invalid fields, each with its messages.",
        "example": {"email": ["The email address is not valid."]}})


class LeadsAddedSchema(Schema):
    """What became of the leads sent."""
    added = ma.fields.Integer(required=True, metadata={"description": "Leads added."})
    duplicates = ma.fields.Integer(required=True, metadata={
        "description": "Skipped: the campaign already has a lead with that address."})
    suppressed = ma.fields.Integer(required=True, metadata={
        "description": "Skipped: the address unsubscribed or bounced in this workspace."})
    invalid = ma.fields.List(ma.fields.Nested(InvalidLeadSchema), required=True)
    ids = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "The ids of the leads added."})


class LeadSchema(Schema):
    """A lead of a campaign, with where it is in the sequence."""
    id = ma.fields.String(required=True, metadata={"example": "lead_01jd3v0m4h8x3q2w9e7r6t5y4u"})
    email = ma.fields.String(required=True)
    first_name = ma.fields.String(required=True, allow_none=True)
    last_name = ma.fields.String(required=True, allow_none=True)
    company = ma.fields.String(required=True, allow_none=True)
    custom_fields = ma.fields.Dict(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(tuple(LeadStatus)))
    current_step = ma.fields.Integer(required=True, metadata={
        "description": "The last step mailed to this lead (0: none yet); the next one is "
                       "step current_step + 1, due at next_send_at."})
    next_send_at = UTCDateTime(required=True, allow_none=True, metadata={
        "description": "When the lead's next step is due; it is sent then or at the next "
                       "moment the campaign's schedule and daily limit allow. Null while "
                       "nothing is due: before launch, while a dispatcher sends it, once "
                       "the lead has ended."})
    last_sent_at = UTCDateTime(required=True, allow_none=True)
    opened_at = UTCDateTime(required=True, allow_none=True)
    clicked_at = UTCDateTime(required=True, allow_none=True)
    replied_at = UTCDateTime(required=True, allow_none=True)
    last_error = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "Why the last message failed, when it did."})
    mailbox_id = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "The mailbox the lead is mailed from, for its whole sequence, once "
                       "its first mail is claimed; null before that and for mail through "
                       "the operator's relay.",
        "example": "mbx_01jd3v0m4h8x3q2w9e7r6t5y4u"})
    created_at = UTCDateTime(required=True)


class LeadMessageSchema(Schema):
    """The mail a lead was sent, or is being sent, for one step of the sequence."""
    id = ma.fields.String(required=True, metadata={"example": "msg_01jd3v0m4h8x3q2w9e7r6t5y4u",
                                                   "description": "The message's id."})
    step = ma.fields.Integer(required=True, metadata={"description": "The sequence step."})
    subject = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "The subject as sent (null until it is)."})
    status = ma.fields.String(required=True, validate=validate.OneOf(tuple(MessageStatus)),
                              metadata={"description": "claimed, sending, sent, unconfirmed "
                                                       "(the send's outcome is unknown), "
                                                       "bounced or failed."})
    sent_at = UTCDateTime(required=True, allow_none=True, metadata={
        "description": "When the server accepted it (null until then)."})
    error = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "Why it bounced or failed."})
    created_at = UTCDateTime(required=True, metadata={"description": "When it was claimed."})


class LeadDetailSchema(LeadSchema):
    """A lead with when it finished and the mail of each step it reached."""
    finished_at = UTCDateTime(required=True, allow_none=True, metadata={
        "description": "When the lead reached its end status."})
    messages = ma.fields.List(ma.fields.Nested(LeadMessageSchema), required=True,
                              attribute="message_list", metadata={
                                  "description": "The mail of each step, in step order."})


LeadDetailEnvelope = envelope(LeadDetailSchema, "LeadDetailEnvelope")
LeadsAddedEnvelope = envelope(LeadsAddedSchema, "LeadsAddedEnvelope")
LeadListEnvelope = envelope(LeadSchema, "LeadListEnvelope", paginated=True)
