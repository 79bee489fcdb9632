"""Strict JSON fields: a JSON body says what it means, so "1" is not an integer here."""
import zoneinfo

import marshmallow as ma

from app.mail.compose import ascii_address


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
                raise ma.ValidationError(f"Longer than {validator.max} characters.")
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


class MailAddress(ma.fields.Email):
    """An address SMTP can carry: checked as an email, stored with an IDNA domain."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", ma.validate.Length(3, 254))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if value is None:
            return None
        try:
            return ascii_address(value.strip())
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from exc
