import re

import marshmallow as ma
from marshmallow import validate

from app.api.core.schemas import Schema, UTCDateTime, envelope
from app.api.fields import (
    HeaderText,
    MailAddress,
    StrictBoolean,
    StrictInteger,
    valid_timezone,
)
from app.api.paging import WorkspacePageQuerySchema
from app.models import MAILBOX_STATUSES, SECURITY_MODES

# A host name or an IP address (IPv6 in brackets or bare): nothing a URL or a command
# could hide in.
HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,251}[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")
CLIENT_STATUSES = ("active", "paused")


class ServerText(ma.fields.String):
    """Text sent to a mail server on a command line: no line breaks or control
    characters (they would end the command and start another)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ma.ValidationError("Must not contain line breaks or control characters.")
        return value


def _server_fields(required):
    return {
        "host": ma.fields.String(required=required, validate=[
            validate.Length(1, 253),
            validate.Regexp(HOST, error="Give a host name or an IP address.")],
            metadata={"example": "smtp.acme.test"}),
        "port": StrictInteger(required=required, validate=validate.Range(1, 65535),
                              metadata={"example": 587}),
        "security": ma.fields.String(required=required, validate=validate.OneOf(SECURITY_MODES),
                                     metadata={"description": "none, starttls or ssl "
                                                              "(TLS from the first byte)."}),
        "username": ServerText(required=required, validate=validate.Length(1, 254),
                               metadata={"description": "The login name.",
                                         "example": "ada@acme.test"}),
        "password": ServerText(required=required, load_only=True,
                               validate=validate.Length(1, 1024),
                               metadata={"description": "Stored encrypted; never returned.",
                                         "writeOnly": True}),
    }


SmtpInSchema = Schema.from_dict(_server_fields(True), name="MailboxSmtpIn")
SmtpInSchema.__doc__ = "The SMTP server the mailbox sends through."
SmtpPatchSchema = Schema.from_dict(_server_fields(False), name="MailboxSmtpPatch")
SmtpPatchSchema.__doc__ = "Changes to the SMTP server: only the keys sent change."
_FOLDER = {"folder": ServerText(validate=validate.Length(1, 200),
                                metadata={"description": "Where replies arrive; default INBOX."})}
ImapInSchema = Schema.from_dict({**_server_fields(True), **_FOLDER}, name="MailboxImapIn")
ImapInSchema.__doc__ = "The IMAP server where replies and bounces are read."
ImapPatchSchema = Schema.from_dict({**_server_fields(False), **_FOLDER},
                                   name="MailboxImapPatch")
ImapPatchSchema.__doc__ = "Changes to the IMAP server: only the keys sent change."


class WarmupSchema(Schema):
    """A daily cap that grows: start, plus increment for each day since warm-up began."""
    enabled = StrictBoolean(metadata={"description": "Whether the cap grows day by day."})
    start = StrictInteger(validate=validate.Range(1, 10000),
                          metadata={"description": "Mails allowed on the first day."})
    increment = StrictInteger(validate=validate.Range(0, 10000),
                              metadata={"description": "Added for each day since."})


class MailboxListQuerySchema(WorkspacePageQuerySchema):
    """A page of a workspace's mailboxes."""


class _MailboxFields(Schema):
    from_name = HeaderText(allow_none=True, validate=validate.Length(0, 100), metadata={
        "description": "The sender's display name.", "example": "Ada from Acme"})
    daily_limit = StrictInteger(validate=validate.Range(1, 10000), metadata={
        "description": "Most mails a day, after warm-up.", "example": 50})
    timezone = ma.fields.String(validate=[validate.Length(1, 64), valid_timezone], metadata={
        "description": "An IANA time zone name: where the mailbox's day begins.",
        "example": "Europe/Paris"})
    warmup = ma.fields.Nested(WarmupSchema)
    min_gap_seconds = StrictInteger(validate=validate.Range(0, 86400), metadata={
        "description": "At least this long between two mails."})
    random_gap_seconds = StrictInteger(validate=validate.Range(0, 86400), metadata={
        "description": "Up to this much more, drawn at random each time."})


class MailboxCreateSchema(_MailboxFields):
    """A new mailbox to send from."""
    workspace_slug = ma.fields.String(required=True, validate=validate.Length(1, 100),
                                      metadata={"description": "The workspace it belongs to.",
                                                "example": "acme-corp"})
    email = MailAddress(required=True, metadata={"description": "The address it sends as.",
                                                 "example": "ada@acme.test"})
    smtp = ma.fields.Nested(SmtpInSchema, required=True)
    imap = ma.fields.Nested(ImapInSchema, allow_none=True)


class MailboxUpdateSchema(_MailboxFields):
    """The changes to make: only the keys sent change."""
    email = MailAddress(metadata={"description": "The address it sends as."})
    smtp = ma.fields.Nested(SmtpPatchSchema)
    imap = ma.fields.Nested(ImapPatchSchema, allow_none=True,
                            metadata={"description": "Merged key by key; null removes IMAP."})
    status = ma.fields.String(validate=validate.OneOf(CLIENT_STATUSES),
                              metadata={"description": "Pause or resume; resuming a mailbox "
                                                       "in error clears its error and its "
                                                       "waiting leads are sent again."})


# ---- responses ---------------------------------------------------------------------

class ServerOutSchema(Schema):
    """A mail server the mailbox uses (never its password)."""
    host = ma.fields.String(required=True, metadata={"example": "smtp.acme.test"})
    port = ma.fields.Integer(required=True, metadata={"example": 587})
    security = ma.fields.String(required=True, validate=validate.OneOf(SECURITY_MODES))
    username = ma.fields.String(required=True)
    has_password = ma.fields.Boolean(required=True, metadata={
        "description": "Whether a password is stored."})


class ImapOutSchema(ServerOutSchema):
    """The IMAP server where replies and bounces are read."""
    folder = ma.fields.String(required=True, metadata={"example": "INBOX"})


class WarmupOutSchema(Schema):
    """The mailbox's warm-up: a daily cap that grows."""
    enabled = ma.fields.Boolean(required=True)
    start = ma.fields.Integer(required=True, metadata={
        "description": "Mails allowed on the first day."})
    increment = ma.fields.Integer(required=True, metadata={
        "description": "Added for each day since."})
    started_at = UTCDateTime(required=True, allow_none=True, metadata={
        "description": "When warm-up was turned on."})


class MailboxSchema(Schema):
    """A mailbox campaigns send from, with today's count and cap."""
    id = ma.fields.String(required=True, metadata={"example": "mbx_01jd3v0m4h8x3q2w9e7r6t5y4u"})
    workspace = ma.fields.String(required=True, metadata={"description": "Workspace slug"})
    email = ma.fields.String(required=True)
    from_name = ma.fields.String(required=True, allow_none=True)
    smtp = ma.fields.Nested(ServerOutSchema, required=True)
    imap = ma.fields.Nested(ImapOutSchema, required=True, allow_none=True)
    daily_limit = ma.fields.Integer(required=True)
    timezone = ma.fields.String(required=True)
    warmup = ma.fields.Nested(WarmupOutSchema, required=True)
    min_gap_seconds = ma.fields.Integer(required=True)
    random_gap_seconds = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(MAILBOX_STATUSES),
                              metadata={"description": (
                                  "active sends; paused and error do not (their leads "
                                  "wait). error: its server refused the login.")})
    last_error = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "Why the mailbox is in error, as a sentence (never the password)."})
    imap_error = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "Why reading replies last failed, when it did."})
    sent_today = ma.fields.Integer(required=True, metadata={
        "description": "Mails sent today, in the mailbox's time zone."})
    limit_today = ma.fields.Integer(required=True, metadata={
        "description": "Today's cap after warm-up, in the mailbox's time zone."})
    created_at = UTCDateTime(required=True)
    updated_at = UTCDateTime(required=True)

    @ma.pre_dump
    def _shape(self, mailbox, **kwargs):
        imap = None
        if mailbox.imap_host is not None:
            imap = {"host": mailbox.imap_host, "port": mailbox.imap_port,
                    "security": mailbox.imap_security, "username": mailbox.imap_username,
                    "has_password": bool(mailbox.imap_password),
                    "folder": mailbox.imap_folder or "INBOX"}
        return {
            "id": mailbox.id, "workspace": mailbox.workspace.slug, "email": mailbox.email,
            "from_name": mailbox.from_name,
            "smtp": {"host": mailbox.smtp_host, "port": mailbox.smtp_port,
                     "security": mailbox.smtp_security, "username": mailbox.smtp_username,
                     "has_password": bool(mailbox.smtp_password)},
            "imap": imap, "daily_limit": mailbox.daily_limit, "timezone": mailbox.timezone,
            "warmup": {"enabled": mailbox.warmup_enabled, "start": mailbox.warmup_start,
                       "increment": mailbox.warmup_increment,
                       "started_at": mailbox.warmup_started_at},
            "min_gap_seconds": mailbox.min_gap_seconds,
            "random_gap_seconds": mailbox.random_gap_seconds,
            "status": mailbox.status, "last_error": mailbox.last_error,
            "imap_error": mailbox.imap_error, "sent_today": mailbox.sent_today,
            "limit_today": mailbox.limit_today, "created_at": mailbox.created_at,
            "updated_at": mailbox.updated_at,
        }


class CheckSchema(Schema):
    """The outcome of logging in to one server."""
    ok = ma.fields.Boolean(required=True)
    error = ma.fields.String(required=True, allow_none=True,
                             metadata={"description": "Why it failed, as a sentence."})


class ConnectionTestSchema(Schema):
    """Whether the mailbox's servers took its logins."""
    smtp = ma.fields.Nested(CheckSchema, required=True)
    imap = ma.fields.Nested(CheckSchema, required=True, allow_none=True,
                            metadata={"description": "null when the mailbox has no IMAP."})


MailboxEnvelope = envelope(MailboxSchema, "MailboxEnvelope")
MailboxListEnvelope = envelope(MailboxSchema, "MailboxListEnvelope", paginated=True)
ConnectionTestEnvelope = envelope(ConnectionTestSchema, "ConnectionTestEnvelope")
