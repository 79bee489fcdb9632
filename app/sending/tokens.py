"""Signed tokens for tracking links (itsdangerous): tamper with one and it reads as None.

``secret`` is one key, or a tuple of keys oldest first (SECRET_KEY_FALLBACKS, then
SECRET_KEY): itsdangerous signs with the last and accepts any, so links already sent
keep working after the key is rotated.
"""
from functools import lru_cache

from itsdangerous import BadData, URLSafeSerializer

_SALTS = {"open": "campaigns.open", "click": "campaigns.click", "unsubscribe": "campaigns.unsub"}


@lru_cache(maxsize=64)
def _serializer(secret, kind):
    # Built once per (secret, kind): a serializer holds no per-token state.
    return URLSafeSerializer(list(secret) if isinstance(secret, tuple) else secret,
                             salt=_SALTS[kind])


def sign(secret, kind, payload):
    return _serializer(secret, kind).dumps(payload)


def read(secret, kind, token):
    """The payload, or None for anything forged, altered or malformed."""
    if not token or len(token) > 4096:
        return None
    try:
        return _serializer(secret, kind).loads(token)
    except (BadData, UnicodeError, ValueError):
        return None
