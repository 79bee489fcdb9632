"""What every list's query string shares about paging: how deep an offset may go, and
the cursor that replaces it past that depth."""
import marshmallow as ma
from marshmallow import validate

from app.api.core.schemas import Schema
from app.errors import ValidationFailed

# OFFSET makes the database walk and drop every row before the page: past this depth a
# page costs more than a request may, and the cursor costs what page 1 does.
MAX_OFFSET = 10_000


def offset_field(*, cursor=True):
    """``offset``, at most MAX_OFFSET; ``cursor``: the list pages by starting_after too."""
    hint = "deeper pages use starting_after." if cursor else "this list goes no deeper."
    return ma.fields.Integer(load_default=0,
                             validate=[validate.Range(min=0), _shallow(cursor)],
                             metadata={"maximum": MAX_OFFSET,
                                       "description": f"At most {MAX_OFFSET:,}; {hint}"})


def cursor_field(noun):
    return ma.fields.String(validate=validate.Length(1, 64), metadata={
        "description": f"Cursor: the id of the last {noun} of the previous page. Costs "
                       "the same on page 1 and page 10,000. Not combined with offset."})


def _shallow(cursor):
    # Its own code, so a client can tell "page by cursor instead" from a typo.
    then = (" page further with starting_after (the id of the last item of the previous "
            "page)." if cursor else " filter the list instead.")

    def check(value):
        if value > MAX_OFFSET:
            raise ValidationFailed(f"offset is at most {MAX_OFFSET:,};{then}",
                                   code="offset_too_deep", details={"max_offset": MAX_OFFSET})
    return check


def one_way_to_page(data):
    if data.get("starting_after") and data.get("offset"):
        raise ma.ValidationError("Use either offset or starting_after, not both.",
                                 field_name="starting_after")


class PageQuerySchema(Schema):
    """``limit`` and ``offset`` as the seed has them (offset bounded, see above)."""
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(1, 100),
                              metadata={"description": "Items on a page."})
    offset = offset_field()

    @ma.validates_schema
    def _one_way_to_page(self, data, **kwargs):
        one_way_to_page(data)


class WorkspacePageQuerySchema(PageQuerySchema):
    """A page of one workspace's resources (a workspace has few mailboxes or webhooks:
    no cursor; the campaign list adds one)."""
    offset = offset_field(cursor=False)
    workspace = ma.fields.String(required=True, validate=validate.Length(1, 100),
                                 metadata={"description": "Workspace slug"})


class CursorPaginationSchema(Schema):
    """Where a page of a list paged by cursor stands: the next page starts after
    ``next_cursor``."""
    limit = ma.fields.Integer(required=True, metadata={"description": "The page size asked."})
    has_more = ma.fields.Boolean(required=True, metadata={
        "description": "Whether another page follows."})
    next_cursor = ma.fields.String(required=True, allow_none=True,
                                   metadata={"description": "Pass as starting_after."})


def cursor_envelope(schema, name):
    """A list paged by cursor only: ``data`` and ``pagination`` {limit, has_more,
    next_cursor}."""
    made = Schema.from_dict({
        "success": ma.fields.Boolean(required=True, dump_default=True,
                                     metadata={"enum": [True]}),
        "data": ma.fields.List(ma.fields.Nested(schema), required=True),
        "pagination": ma.fields.Nested(CursorPaginationSchema, required=True),
    }, name=name)
    made.__doc__ = (f"A successful answer: a page of {schema.__name__.removesuffix('Schema')} "
                    "items in `data`; pass `pagination.next_cursor` as starting_after for "
                    "the next.")
    return made


def cursor_body(items, limit, has_more, cursor=lambda item: item.id):
    """The answer of a cursor-paged list; ``cursor`` gives an item's cursor value."""
    return {"success": True, "data": items,
            "pagination": {"limit": limit, "has_more": has_more,
                           "next_cursor": cursor(items[-1]) if has_more else None}}
