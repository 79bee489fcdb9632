"""Rate limits per API key (flask-limiter), shared across nodes when storage is Redis."""
import hashlib

from flask import request
from flask_limiter import Limiter

LIMITED_PREFIX = "/api/v1/tenant/"


def _key():
    # The key's digest, not the key: limiter storage is no place for secrets. Requests
    # without a key are limited by address (they all fail with 401 anyway).
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return "key:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "ip:" + (request.remote_addr or "unknown")


def init_app(app):
    return Limiter(
        _key, app=app,
        default_limits=[app.config["RATE_LIMIT"]],
        default_limits_exempt_when=lambda: not request.path.startswith(LIMITED_PREFIX),
        storage_uri=app.config["RATE_LIMIT_STORAGE_URI"],
        strategy="sliding-window-counter",
        headers_enabled=True,
        # A limiter storage that is down must not take the API down with it.
        swallow_errors=True,
        key_prefix="campaigns-api",
    )
