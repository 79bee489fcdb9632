"""Tokens for the links in sent mail: encrypted, so they reveal nothing, and
authenticated, so a token altered or made up reads as None.

A token is a Fernet token (``cryptography``: AES-CBC with an HMAC, URL-safe base64)
without its ``=`` padding. Each kind of link has its own key, derived with HKDF from
the secret and the kind's label, so a token of one kind never reads as another.

``secret`` is one key, or a tuple of keys oldest first (SECRET_KEY_FALLBACKS, then
SECRET_KEY): the last encrypts, any decrypts, so links already sent keep working after
the key is rotated. Links sent before tokens were encrypted were signed by
itsdangerous (base64 JSON, a dot, a signature); they are still read, with the same keys.
"""
import base64
from functools import lru_cache

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadData, URLSafeSerializer

_SALTS = {"open": "campaigns.open", "click": "campaigns.click", "unsubscribe": "campaigns.unsub"}
MAX_TOKEN = 4096


def _keys(secret):
    """The keys, newest first."""
    keys = secret if isinstance(secret, tuple | list) else (secret,)
    return tuple(reversed([k.encode() if isinstance(k, str) else k for k in keys]))


def _derive(key, kind):
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"{_SALTS[kind]}.fernet".encode())
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(key)))


@lru_cache(maxsize=64)
def _fernet(secret, kind):
    # Built once per (secret, kind): deriving a key costs more than using it.
    return MultiFernet([_derive(key, kind) for key in _keys(secret)])


@lru_cache(maxsize=64)
def _legacy(secret, kind):
    keys = list(reversed(_keys(secret)))  # itsdangerous: oldest first, signs with the last
    return URLSafeSerializer(keys, salt=_SALTS[kind])


def sign(secret, kind, payload):
    """An opaque URL-safe token carrying ``payload`` (JSON-serialisable)."""
    token = _fernet(_hashable(secret), kind).encrypt(orjson.dumps(payload))
    return token.decode("ascii").rstrip("=")


def read(secret, kind, token):
    """The payload, or None for anything forged, altered or malformed."""
    if not token or len(token) > MAX_TOKEN or not token.isascii():
        return None
    secret = _hashable(secret)
    if "." in token:
        # Fernet's alphabet has no dot; itsdangerous' tokens always have one.
        try:
            return _legacy(secret, kind).loads(token)
        except (BadData, UnicodeError, ValueError):
            return None
    try:
        data = _fernet(secret, kind).decrypt(token + "=" * (-len(token) % 4))
        return orjson.loads(data)
    except (InvalidToken, ValueError, TypeError):
        return None


def _hashable(secret):
    return tuple(secret) if isinstance(secret, list) else secret
