import hmac

from app.errors import Unauthorized
from app.models import ApiKey, hash_key


def authenticate(secret):
    """The live API key for ``secret`` (with its tenant loaded), or Unauthorized."""
    if not secret or len(secret) > 200:
        raise Unauthorized()
    digest = hash_key(secret)
    key = ApiKey.active_by_digest(digest)
    # The lookup is by hash through an index; compare the digests in constant time too
    # so nothing about a near miss leaks through timing.
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        raise Unauthorized()
    return key
