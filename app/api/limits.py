"""Rate limits per API key, counted by the `limits` library; shared across nodes when its
storage is Redis.

`limits` is the engine flask-limiter is built on. flask-limiter served here first, but
working out on each request which of its decorators, defaults and exemptions apply cost
about 0.2 ms, a fifth of a list request, for what is one rule: every limit in
``RATE_LIMIT`` for every key under /api/v1/tenant/. This hook asks `limits` directly
(about 15 µs) and writes the same headers.
"""
import logging
import time

from flask import g, request
from limits import parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from app.api.core.auth import key_digest
from app.errors import RateLimited

LIMITED_PREFIX = "/api/v1/tenant/"
NAMESPACE = "campaigns-api"
LIMIT, REMAINING, RESET = "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"

log = logging.getLogger("app.api")


def _key():
    # The key's digest, not the key: limiter storage is no place for secrets. Requests
    # without a key are limited by address (they all fail with 401 anyway).
    digest = key_digest()
    if digest is not None:
        return "key:" + digest[:32]
    return "ip:" + (request.remote_addr or "unknown")


class SweptMemoryStorage(MemoryStorage):
    """limits' memory storage, sweeping expired counters on the request path.

    MemoryStorage starts a 10 ms Timer thread to sweep whenever none is alive, so under
    load every worker started a thread a few times per 10 ms (5% of a list request).
    Counters that have expired are dropped when they are read anyway (``get``); the
    sweep only frees the counters of keys no longer used, so it runs here at most once
    a minute, in the request that finds it due. (The hook is limits' own private
    method; limits is pinned below 6 and tests/api/test_rate_limit.py checks it.)
    """

    SWEEP_SECONDS = 60.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timer.cancel()  # the one MemoryStorage starts at once
        self.next_sweep = time.monotonic() + self.SWEEP_SECONDS

    def _MemoryStorage__schedule_expiry(self):
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()


def _storage(uri):
    if uri.split(":", 1)[0] == "memory":
        return SweptMemoryStorage(uri)
    return storage_from_string(uri)


class RateLimits:
    def __init__(self, rules, storage_uri):
        self.rules = parse_many(rules)
        self.limiter = SlidingWindowCounterRateLimiter(_storage(storage_uri))

    def check(self):
        """Count this request against every rule; refuse it (429) if one is spent.

        A storage that cannot be reached must not take the API down with it: the request
        is served unlimited and the failure logged.
        """
        if not request.path.startswith(LIMITED_PREFIX):
            return
        key = _key()
        try:
            tightest = None
            for rule in self.rules:
                allowed = self.limiter.hit(rule, NAMESPACE, key)
                reset, remaining = self.limiter.get_window_stats(rule, NAMESPACE, key)
                state = (rule.amount, remaining, int(reset))
                if not allowed:
                    tightest = state
                    break
                if tightest is None or remaining < tightest[1]:
                    tightest = state
        except Exception:  # noqa: BLE001 - any storage failure: serve, and say so
            log.exception("rate limit storage unavailable; serving without limits")
            return
        g.rate_limit = tightest
        if not allowed:
            retry_after = max(1, tightest[2] - int(time.time()))
            raise RateLimited(headers={"Retry-After": str(retry_after)})

    @staticmethod
    def headers(response):
        state = g.get("rate_limit")
        if state is not None:
            amount, remaining, reset = state
            response.headers[LIMIT] = str(amount)
            response.headers[REMAINING] = str(remaining)
            response.headers[RESET] = str(reset)
        return response


def init_app(app):
    limits = RateLimits(app.config["RATE_LIMIT"], app.config["RATE_LIMIT_STORAGE_URI"])

    # Plain functions, which app.App.ensure_sync checks once; a bound method is
    # checked on every request.
    def check_rate_limit():
        return limits.check()

    def rate_limit_headers(response):
        return limits.headers(response)

    app.before_request(check_rate_limit)
    app.after_request(rate_limit_headers)
