"""What every list's query string shares about paging: how deep an offset may go, and
the cursor that replaces it past that depth."""
import marshmallow as ma
from marshmallow import validate

from app.errors import ValidationFailed

# OFFSET makes the database walk and drop every row before the page: past this depth a
# page costs more than a request may, and the cursor costs what page 1 does.
MAX_OFFSET = 10_000


def offset_field():
    return ma.fields.Integer(load_default=0, validate=[validate.Range(min=0), _shallow],
                             metadata={"maximum": MAX_OFFSET,
                                       "description": f"At most {MAX_OFFSET:,}; deeper "
                                                      "pages use starting_after."})


def cursor_field(noun):
    return ma.fields.String(validate=validate.Length(1, 64), metadata={
        "description": f"Cursor: the id of the last {noun} of the previous page. Costs "
                       "the same on page 1 and page 10,000. Not combined with offset."})


def _shallow(value):
    # Its own code, so a client can tell "page by cursor instead" from a typo.
    if value > MAX_OFFSET:
        raise ValidationFailed(
            f"offset is at most {MAX_OFFSET:,}; page further with starting_after "
            "(the id of the last item of the previous page).",
            code="offset_too_deep", details={"max_offset": MAX_OFFSET})


def one_way_to_page(data):
    if data.get("starting_after") and data.get("offset"):
        raise ma.ValidationError("Use either offset or starting_after, not both.",
                                 field_name="starting_after")
