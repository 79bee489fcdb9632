"""Plain sentences in place of marshmallow's own error messages.

Every message a client can get for a field says what the value must be, in words a
person can act on ("Must be true or false.", not "Not a valid boolean."). The Schema base
hands these to each field as the field is bound (marshmallow's public ``on_bind_field``
hook and ``error_messages``), to the fields inside lists and mappings too, and gives the
Length, Range and Regexp validators a sentence for their bounds. A message a field or a
validator of ours already words is kept as it is.
"""
import marshmallow as ma

# The schema's own: a value that is not an object, and a field it does not know.
SCHEMA_MESSAGES = {
    "type": "Must be a JSON object.",
    "unknown": "Not a known field; check its spelling.",
}
UNKNOWN_FIELD = SCHEMA_MESSAGES["unknown"]

# Every field's, whatever its type.
FIELD_MESSAGES = {
    "required": "This field is required.",
    "null": "Must not be null.",
    "validator_failed": "This value is not accepted.",
}

# By field type, the most specific first (a Boolean is not a Number; Integer is one).
TYPE_MESSAGES = (
    (ma.fields.Boolean, {"invalid": "Must be true or false."}),
    (ma.fields.Integer, {"invalid": "Must be a whole number.",
                         "too_large": "Must be a smaller number."}),
    (ma.fields.Number, {"invalid": "Must be a number.", "too_large": "Must be a smaller number.",
                        "special": "Must be a finite number."}),
    (ma.fields.Email, {"invalid": "Must be an email address."}),
    (ma.fields.Url, {"invalid": "Must be a URL such as https://example.com/."}),
    (ma.fields.String, {"invalid": "Must be text (a JSON string).",
                        "invalid_utf8": "Must be valid UTF-8 text."}),
    (ma.fields.DateTime, {"invalid": "Must be a date and time such as 2026-12-01T09:00:00Z.",
                          "invalid_awareness": "Must be a date and time with its time zone, "
                                               "such as 2026-12-01T09:00:00Z."}),
    (ma.fields.List, {"invalid": "Must be a list (a JSON array)."}),
    (ma.fields.Tuple, {"invalid": "Must be a list (a JSON array)."}),
    (ma.fields.Mapping, {"invalid": "Must be a JSON object."}),
    (ma.fields.Nested, {"type": "Must be a JSON object."}),
)


def in_plain_words(field):
    """Give ``field``, and every field inside it, plain messages (in place: a schema
    instance binds its own copy of each field)."""
    pending = [field]
    while pending:
        field = pending.pop()
        field.error_messages = {**field.error_messages, **_messages_for(field)}
        field.validators = [_plain_validator(v, field) for v in field.validators]
        pending.extend(_inner_fields(field))


def _messages_for(field):
    messages = dict(FIELD_MESSAGES)
    for kind, words in TYPE_MESSAGES:
        if isinstance(field, kind):
            messages.update({k: v for k, v in words.items() if k in field.error_messages})
            break
    if isinstance(field, ma.fields.Nested) and field.many:
        messages["type"] = "Must be a list of JSON objects."
    # Only keys the field has, and never a message its own class words differently.
    return {key: text for key, text in messages.items()
            if _is_marshmallows(field, key)}


def _is_marshmallows(field, key):
    """True when the field's message for ``key`` is one marshmallow itself wrote."""
    current = field.error_messages.get(key)
    return current is not None and any(
        getattr(cls, "default_error_messages", {}).get(key) == current
        for cls in type(field).__mro__ if cls.__module__.startswith("marshmallow"))


def _inner_fields(field):
    if isinstance(field, ma.fields.List):
        return [field.inner]
    if isinstance(field, ma.fields.Tuple):
        return list(field.tuple_fields)
    if isinstance(field, ma.fields.Mapping):
        return [f for f in (field.key_field, field.value_field) if f is not None]
    return []


def _counted(field):
    """What a Length counts in ``field``'s values."""
    return "text" if isinstance(field, ma.fields.String) else "items"


# What a Length says of its bound, for text (in characters) and for other values (items).
LENGTH_SENTENCES = {
    "text": {"equal": "Must be exactly {equal} characters long.",
             "between": "Must be {low} to {high} characters long.",
             "at_most": "Must be at most {high} characters long.",
             "at_least": "Must be at least {low} characters long."},
    "items": {"equal": "Must hold exactly {equal} items.",
              "between": "Must hold {low} to {high} items.",
              "at_most": "Must hold at most {high} items.",
              "at_least": "Must hold at least {low} items."},
}


def length_message(validator, field):
    low, high, equal = validator.min, validator.max, validator.equal
    if equal is not None:
        bound = "equal"
    elif low and high is not None:
        bound = "between"
    elif high is not None:
        bound = "at_most"
    elif low == 1:
        return "Must not be empty."
    else:
        bound = "at_least"
    return LENGTH_SENTENCES[_counted(field)][bound].format(low=low, high=high, equal=equal)


def range_message(validator):
    low, high = validator.min, validator.max
    if low is not None and high is not None and validator.min_inclusive \
            and validator.max_inclusive:
        return f"Must be from {low} to {high}."
    bounds = []
    if low is not None:
        bounds.append(f"at least {low}" if validator.min_inclusive else f"more than {low}")
    if high is not None:
        bounds.append(f"at most {high}" if validator.max_inclusive else f"less than {high}")
    return f"Must be {' and '.join(bounds)}."


def _plain_validator(validator, field):
    """The validator with a sentence for its bounds, when it has marshmallow's words."""
    if isinstance(validator, ma.validate.Regexp):
        if validator.error != ma.validate.Regexp.default_message:
            return validator
        return ma.validate.Regexp(validator.regex, error="Does not have the expected form.")
    if getattr(validator, "error", None) is not None:
        return validator
    if isinstance(validator, ma.validate.Length):
        return ma.validate.Length(min=validator.min, max=validator.max,
                                  equal=validator.equal,
                                  error=length_message(validator, field))
    if isinstance(validator, ma.validate.Range):
        return ma.validate.Range(min=validator.min, max=validator.max,
                                 min_inclusive=validator.min_inclusive,
                                 max_inclusive=validator.max_inclusive,
                                 error=range_message(validator))
    return validator
