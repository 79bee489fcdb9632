import hmac

from app.errors import Unauthorized
from app.models import ApiKey, hash_key

MAX_KEY_LENGTH = 200


def digest(secret):
    """What a key is looked up and counted by (``hash_key``), or None for no key or one
    too long to be ours."""
    if not secret or len(secret) > MAX_KEY_LENGTH:
        return None
    return hash_key(secret)


def authenticate(digest):
    """The live API key whose ``hash_key`` digest is ``digest`` (its tenant known by id),
    or Unauthorized."""
    key = ApiKey.active_by_digest(digest) if digest else None
    # The lookup is by hash through an index; compare the digests in constant time too
    # so nothing about a near miss leaks through timing.
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        raise Unauthorized()
    return key
