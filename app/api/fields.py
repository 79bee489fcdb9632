"""Strict JSON fields: a JSON body says what it means, so "1" is not an integer here."""
import zoneinfo

import email_validator
import marshmallow as ma


class StrictBoolean(ma.fields.Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictInteger(ma.fields.Integer):
    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class TrimmedString(ma.fields.String):
    """Surrounding white space is dropped, and the rest must not be blank.

    The documented maxLength holds for the text as sent (a longer value is refused even
    when trimming would shorten it); the minimum holds for the trimmed text.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        for validator in self.validators:
            if (isinstance(validator, ma.validate.Length) and validator.max is not None
                    and len(value) > validator.max):
                raise ma.ValidationError(
                    f"Must be at most {validator.max} characters long, as sent.")
        return value.strip()


class HeaderText(TrimmedString):
    """Text that ends up in a mail header: no line breaks or other control characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if has_header_control(value):
            raise ma.ValidationError("Must not contain line breaks or control characters.")
        return value


# C0 controls (\x0b and \x0c included), DEL, C1 controls (U+0085 included), and the
# Unicode line and paragraph separators: each can break a header line somewhere.
# NUL is left to the Schema base's own check (one message for it, on every text field).
_HEADER_CONTROLS = {*range(1, 32), 127, *range(0x80, 0xA0), 0x2028, 0x2029}


def has_header_control(value):
    return any(ord(c) in _HEADER_CONTROLS for c in value)


def no_header_controls(value):
    """A validator for text that reaches a header but keeps its own type (a subject)."""
    if isinstance(value, str) and has_header_control(value):
        raise ma.ValidationError("Must not contain line breaks or control characters.")


def valid_timezone(name):
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ma.ValidationError(
            f"'{name}' is not an IANA time zone name (like 'Europe/Paris').") from exc


# The IANA reserves the `test` top-level domain for testing (RFC 6761): it never
# resolves, so accepting it costs nothing in production, and it lets the suite and local
# runs use addresses like ada@acme.test. email-validator refuses special-use names, and
# its README documents removing one from this list as the way to permit it. `localhost`,
# `invalid`, `local` and the others stay refused.
if "test" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
    email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("test")


class MailAddress(ma.fields.String):
    """An address SMTP without SMTPUTF8 can carry, checked by email-validator for
    syntax only (no DNS at request time): no quoted local part (it could carry `<`, `>`
    or `,` into a header), no IP-literal domain, nothing but ASCII before the @. An
    international domain is kept in its ASCII (IDNA) form, the form the mailer sends."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", ma.validate.Length(3, 254))
        kwargs["metadata"] = {"format": "email", **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            checked = email_validator.validate_email(
                value, check_deliverability=False, allow_smtputf8=False,
                allow_quoted_local=False, allow_domain_literal=False,
                allow_display_name=False)
        except email_validator.EmailNotValidError as exc:
            message = str(exc)
            local = value.rpartition("@")[0]
            if not local.isascii():
                message += (" Only ASCII is accepted before the @: other characters "
                            "need SMTPUTF8, which this mailer does not speak.")
            raise ma.ValidationError(message) from exc
        return checked.ascii_email
