import hmac

from app.errors import Unauthorized
from app.models import ApiKey


def authenticate(digest):
    """The live API key whose ``hash_key`` digest is ``digest`` (with its tenant loaded),
    or Unauthorized."""
    key = ApiKey.active_by_digest(digest) if digest else None
    # The lookup is by hash through an index; compare the digests in constant time too
    # so nothing about a near miss leaks through timing.
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        raise Unauthorized()
    return key
