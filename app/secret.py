"""A server never starts with a secret anyone can read: SECRET_KEY signs click redirects
and unsubscribe links, so the public development value would let anyone forge them."""
import os
import sys

from app.config import DEV_SECRET_KEY

DEVELOPMENT = "development"
REFUSAL = ("SECRET_KEY is unset or the public development value: set SECRET_KEY to a "
           "long random string (or APP_ENV=development on a laptop).")


def secret_problem(environ=None):
    """The reason to refuse to start, or None."""
    environ = os.environ if environ is None else environ
    if environ.get("APP_ENV", "").strip().lower() == DEVELOPMENT:
        return None
    key = environ.get("SECRET_KEY", "")
    if not key.strip() or key == DEV_SECRET_KEY:
        return REFUSAL
    return None


def require_secret_key(environ=None):
    """Exit (status 2, one line on stderr) unless a real SECRET_KEY is set."""
    problem = secret_problem(environ)
    if problem:
        print(problem, file=sys.stderr, flush=True)
        sys.exit(2)
