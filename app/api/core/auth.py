"""The API key a request carries, and the hook that requires one."""
from flask import g, request

from app.services import auth

BEARER = "bearerAuth"


def bearer_secret():
    """The API key the request carries (``Authorization: Bearer <key>``), or None."""
    credentials = request.authorization  # werkzeug parses the header
    if credentials is None or credentials.type != "bearer" or not credentials.token:
        return None
    return credentials.token.strip()


def key_digest():
    """The request's key digest (auth.digest), or None: worked out once a request, for
    the rate limit (its counter's name) and for authentication (the lookup)."""
    if "key_digest" not in g:
        g.key_digest = auth.digest(bearer_secret())
    return g.key_digest


def require_api_key():
    key = auth.authenticate(key_digest())
    g.api_key = key
    g.tenant = key.tenant
    g.idempotency_scope = key.tenant_id
