"""Secrets at rest (mailbox passwords): Fernet tokens under ENCRYPTION_KEYS.

MultiFernet does the work: the first key encrypts, every key decrypts, and ``rotate``
re-encrypts a token under the first key, so a key can be replaced without downtime:
put the new key first, run ``flask --app wsgi mailboxes rekey``, then drop the old one.
"""
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.errors import ServiceUnavailable

_fernet = None


class KeysMissing(ServiceUnavailable):
    code = "encryption_keys_missing"
    message = ("The server has no ENCRYPTION_KEYS set, so it cannot store or read "
               "mailbox passwords; its operator must set them.")


class UndecryptableSecret(ServiceUnavailable):
    code = "encryption_key_unknown"
    message = ("A stored password was encrypted with a key that is no longer in "
               "ENCRYPTION_KEYS; its operator must add that key back.")


def configure(keys):
    """Keys as a list or as the comma-separated text of ENCRYPTION_KEYS; empty: none."""
    global _fernet
    if isinstance(keys, str):
        keys = keys.split(",")
    keys = [k.strip() for k in keys or () if k and k.strip()]
    _fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None


def generate_key():
    return Fernet.generate_key().decode()


def _keys():
    if _fernet is None:
        raise KeysMissing()
    return _fernet


def encrypt(text):
    return _keys().encrypt(text.encode()).decode()


def decrypt(token):
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret() from None


def rotate(token):
    try:
        return _keys().rotate(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret() from None
