"""Rate limits per tenant, and per client address for requests that fail authentication,
counted by the `limits` library; shared across nodes and workers when its storage is Redis.

``memory://`` (the default) counts in each worker process: with N gunicorn workers a
tenant gets up to N times its budget. Production sets ``RATE_LIMIT_STORAGE_URI`` to Redis.
In-process counting is done by ``LocalStorage`` below rather than by `limits`' own
MemoryStorage, which starts a sweeping timer thread again whenever the last one has
finished (a thread start every few requests, about 0.15 ms each).

`limits` is the engine flask-limiter is built on. flask-limiter served here first, but
working out on each request which of its decorators, defaults and exemptions apply cost
about 0.2 ms, a fifth of a list request, for what is two rules. These hooks ask `limits`
directly and write the same headers.

The order of the hooks:
1. Before the database (an app-level hook): a client address over its budget of failed
   authentications is refused (429) without looking its key up.
2. Right after the key is resolved (inserted after ``require_api_key`` in each
   authenticated blueprint): the request counts against its tenant's budget, shared by
   all the tenant's keys, and is refused before the view does any work.
3. After the response: a 401 counts as a failure against the client address.
"""
import itertools
import logging
import math
import threading
import time
from urllib.parse import urlsplit

from flask import g, request
from limits import parse, parse_many
from limits.storage import SlidingWindowCounterSupport, Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from app.api.core.auth import require_api_key
from app.errors import RateLimited

LIMITED_PREFIX = "/api/v1/tenant/"
NAMESPACE = "campaigns-api"
LIMIT, REMAINING, RESET = "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"

log = logging.getLogger("app.api")


class LocalStorage(Storage, SlidingWindowCounterSupport):
    """Counters in this process for `limits`, written to its documented custom-storage
    interface (``Storage`` and ``SlidingWindowCounterSupport``; ``local://``).

    No thread: a counter past its expiry is dropped when it is next read, and when the
    storage is full (``max_keys``) the expired ones are swept, then the oldest dropped
    (a dropped counter forgives what it counted). One lock makes every step atomic, so
    two threads cannot both take the last request of a window. ``clock`` is the time
    source (seconds since the epoch), for tests.
    """

    STORAGE_SCHEME = ["local"]
    DEFAULT_MAX_KEYS = 100_000

    def __init__(self, uri=None, wrap_exceptions=False, *, max_keys=DEFAULT_MAX_KEYS,
                 clock=time.time, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.max_keys = int(max_keys)
        self.clock = clock
        self._lock = threading.Lock()
        self._counters = {}  # name -> [count, expires_at], oldest first

    @property
    def base_exceptions(self):
        return ValueError

    def __len__(self):
        return len(self._counters)

    def _count(self, name, now):
        entry = self._counters.get(name)
        if entry is None:
            return 0
        if entry[1] <= now:
            del self._counters[name]
            return 0
        return entry[0]

    def _add(self, name, amount, expires_at, now):
        entry = self._counters.get(name)
        if entry is not None and entry[1] > now:
            entry[0] += amount
            return entry[0]
        self._counters.pop(name, None)
        if len(self._counters) >= self.max_keys:
            self._make_room(now)
        self._counters[name] = [amount, expires_at]
        return amount

    def _make_room(self, now):
        counters = self._counters
        for name in [name for name, entry in counters.items() if entry[1] <= now]:
            del counters[name]
        # Still full of live counters: drop the oldest tenth, so the next sweep is
        # that many inserts away.
        excess = len(counters) - self.max_keys + max(1, self.max_keys // 10)
        for name in list(itertools.islice(counters, max(0, excess))):
            del counters[name]

    # Storage
    def incr(self, key, expiry, amount=1):
        with self._lock:
            now = self.clock()
            entry = self._counters.get(key)
            expires_at = entry[1] if entry is not None and entry[1] > now else now + expiry
            return self._add(key, amount, expires_at, now)

    def get(self, key):
        with self._lock:
            return self._count(key, self.clock())

    def get_expiry(self, key):
        with self._lock:
            now = self.clock()
            entry = self._counters.get(key)
            return entry[1] if entry is not None and entry[1] > now else now

    def check(self):
        return True

    def reset(self):
        with self._lock:
            count = len(self._counters)
            self._counters.clear()
            return count

    def clear(self, key):
        with self._lock:
            self._counters.pop(key, None)

    # SlidingWindowCounterSupport: windows of ``expiry`` seconds numbered from the
    # epoch, as `limits`' own storages count them; a window's counter lives on
    # through the next window, which weighs it.
    def _window(self, key, expiry, now):
        current = int(now // expiry)
        previous_count = self._count((key, current - 1), now)
        current_count = self._count((key, current), now)
        previous_ttl = (1 - (now / expiry) % 1) * expiry if previous_count else 0.0
        current_ttl = (1 - (now / expiry) % 1) * expiry + expiry
        return current, previous_count, previous_ttl, current_count, current_ttl

    def acquire_sliding_window_entry(self, key, limit, expiry, amount=1):
        if amount > limit:
            return False
        with self._lock:
            now = self.clock()
            current, previous, previous_ttl, count, _ = self._window(key, expiry, now)
            if math.floor(previous * previous_ttl / expiry + count) + amount > limit:
                return False
            self._add((key, current), amount, (current + 2) * expiry, now)
            return True

    def get_sliding_window(self, key, expiry):
        with self._lock:
            return self._window(key, expiry, self.clock())[1:]

    def clear_sliding_window(self, key, expiry):
        with self._lock:
            current = int(self.clock() // expiry)
            self._counters.pop((key, current - 1), None)
            self._counters.pop((key, current), None)


def make_storage(uri):
    """`limits`' storage for ``uri``; ``memory://`` counts in this process (LocalStorage)."""
    if urlsplit(uri).scheme == "memory":
        return LocalStorage()
    return storage_from_string(uri)


def client_address():
    # The socket's peer, or what ProxyFix (TRUSTED_PROXIES) took from the trusted hops:
    # never a header the client wrote itself.
    return request.remote_addr or "unknown"


class RateLimits:
    def __init__(self, rules, failure_rule, storage_uri):
        self.rules = parse_many(rules)
        self.failure_rule = parse(failure_rule)
        self.limiter = SlidingWindowCounterRateLimiter(make_storage(storage_uri))

    def _refuse(self, state):
        g.rate_limit = state
        retry_after = max(1, state[2] - int(time.time()))
        raise RateLimited(headers={"Retry-After": str(retry_after)})

    def _state(self, rule, key):
        reset, remaining = self.limiter.get_window_stats(rule, NAMESPACE, key)
        return rule.amount, remaining, int(reset)

    def check_failures(self):
        """Refuse an address that has failed authentication too often, before any lookup."""
        if not request.path.startswith(LIMITED_PREFIX):
            return
        key = "auth-failure:" + client_address()
        try:
            if self.limiter.test(self.failure_rule, NAMESPACE, key):
                return
            state = self._state(self.failure_rule, key)
        except Exception:  # noqa: BLE001 - any storage failure: serve, and say so
            log.exception("rate limit storage unavailable; serving without limits")
            return
        self._refuse(state)

    def count_failure(self, response):
        if (response.status_code != 401 or not request.path.startswith(LIMITED_PREFIX)
                or g.get("tenant") is not None):
            return
        key = "auth-failure:" + client_address()
        try:
            self.limiter.hit(self.failure_rule, NAMESPACE, key)
        except Exception:  # noqa: BLE001
            log.exception("rate limit storage unavailable; serving without limits")

    def check_tenant(self):
        """Count this request against every rule of its tenant; 429 if one is spent.

        A storage that cannot be reached must not take the API down with it: the request
        is served unlimited and the failure logged.
        """
        tenant = g.get("tenant")
        if tenant is None or not request.path.startswith(LIMITED_PREFIX):
            return
        key = f"tenant:{tenant.id}"
        try:
            tightest = None
            for rule in self.rules:
                allowed = self.limiter.hit(rule, NAMESPACE, key)
                state = self._state(rule, key)
                if not allowed:
                    tightest = state
                    break
                if tightest is None or state[1] < tightest[1]:
                    tightest = state
        except Exception:  # noqa: BLE001 - any storage failure: serve, and say so
            log.exception("rate limit storage unavailable; serving without limits")
            return
        g.rate_limit = tightest
        if not allowed:
            self._refuse(tightest)

    def headers(self, response):
        self.count_failure(response)
        state = g.get("rate_limit")
        if state is not None:
            amount, remaining, reset = state
            response.headers[LIMIT] = str(amount)
            response.headers[REMAINING] = str(remaining)
            response.headers[RESET] = str(reset)
        return response


def init_app(app):
    """The address check and the headers; call before the database's hooks."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)
    limits = RateLimits(app.config["RATE_LIMIT"], app.config["AUTH_FAILURE_RATE_LIMIT"],
                        app.config["RATE_LIMIT_STORAGE_URI"])
    app.extensions["rate_limits"] = limits

    def check_auth_failures():
        return limits.check_failures()

    def rate_limit_headers(response):
        return limits.headers(response)

    app.before_request(check_auth_failures)
    app.after_request(rate_limit_headers)


def init_tenant_budget(app):
    """Count each authenticated request right after its key is resolved; call once the
    blueprints are registered.

    The tenant is known only from the key's lookup, so the counter cannot run in an
    app-level hook (those run before a blueprint's); it goes into each blueprint's own
    hooks (Flask's public ``before_request_funcs``) just after ``require_api_key``,
    ahead of idempotency replays and the view.
    """
    limits = app.extensions["rate_limits"]

    def check_tenant_budget():
        return limits.check_tenant()

    for funcs in app.before_request_funcs.values():
        if require_api_key in funcs:
            funcs.insert(funcs.index(require_api_key) + 1, check_tenant_budget)
