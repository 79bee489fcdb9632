"""Signed tokens for tracking links (itsdangerous): tamper with one and it reads as None.

``secret`` is one key, or a tuple of keys oldest first (SECRET_KEY_FALLBACKS, then
SECRET_KEY): itsdangerous signs with the last and accepts any, so links already sent
keep working after the key is rotated.
"""
from functools import lru_cache

from itsdangerous import BadData, Serializer, URLSafeSerializer
from itsdangerous.encoding import base64_encode

_SALTS = {"open": "campaigns.open", "click": "campaigns.click", "unsubscribe": "campaigns.unsub"}


class _Uncompressed(URLSafeSerializer):
    """itsdangerous' URL-safe tokens, signed without trying zlib first.

    URLSafeSerializer compresses every payload and keeps the result when it is shorter;
    an id, an address or a link seldom shrinks, and the attempt was half of a token's
    cost (two or three tokens a mail). Reading is itsdangerous' own, which takes a
    token either way, so links signed before this still work.
    """

    def dump_payload(self, obj):
        return base64_encode(Serializer.dump_payload(self, obj))


@lru_cache(maxsize=64)
def _serializer(secret, kind):
    # Built once per (secret, kind): a serializer holds no per-token state.
    return _Uncompressed(list(secret) if isinstance(secret, tuple) else secret,
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
