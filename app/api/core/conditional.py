"""ETag out, If-Match in: a change of one campaign only when the client read its version."""
import re

from flask import request

from app.errors import PreconditionFailed

# The versions we hand out are small; a longer run of digits names none of them (and
# int() of thousands of digits is refused by Python).
VERSION_TAG = re.compile(r"v([0-9]{1,18})", re.ASCII)
STRONG_TAG_NEEDED = 'If-Match must be a strong ETag such as "v3".'

IF_MATCH_PARAMETER = {
    "in": "header", "name": "If-Match", "required": False,
    "description": "The ETag you read (\"v3\"); a stale one is a 412 and nothing changes. "
                   "A weak (W/\"v3\") or unquoted tag is a 412 too.",
    "schema": {"type": "string"}}
ETAG_HEADER = {"ETag": {"description": "The campaign's version, for If-Match.",
                        "schema": {"type": "string", "example": '"v3"'}}}


def etag_of(resource):
    return f'"v{resource.version}"'


def with_etag(body, resource):
    return body, {"ETag": etag_of(resource)}


def etag_version(req=None):
    """The versions an ``If-Match`` header accepts; None when absent or ``*``.

    werkzeug parses the header (``request.if_match``). If-Match compares strongly (RFC
    9110, 13.1.1): weak tags match nothing, and a header of only weak or unquoted tags
    is answered at once with a 412 that says so. A strong tag naming no version of
    ours matches nothing either: the service answers 412 with the current version.
    """
    req = req or request
    header = req.headers.get("If-Match")
    if header is None:
        return None
    etags = req.if_match
    if etags.star_tag:
        return None
    # werkzeug gives None for an empty quoted tag (""): it names no version either.
    strong = {tag for tag in etags.as_set() if tag}
    if not strong or '"' not in header:
        raise PreconditionFailed(STRONG_TAG_NEEDED)
    return frozenset(int(match[1]) for tag in strong
                     if (match := VERSION_TAG.fullmatch(tag)))
