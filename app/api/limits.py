"""Rate limits per tenant, and per client address for requests that fail authentication,
counted by the `limits` library; shared across nodes and workers when its storage is Redis.

``memory://`` (the default) counts in each worker process: with N gunicorn workers a
tenant gets up to N times its budget. Production sets ``RATE_LIMIT_STORAGE_URI`` to Redis.

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
import logging
import time

from flask import g, request
from limits import parse, parse_many
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from app.api.core.auth import require_api_key
from app.errors import RateLimited

LIMITED_PREFIX = "/api/v1/tenant/"
NAMESPACE = "campaigns-api"
LIMIT, REMAINING, RESET = "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"

log = logging.getLogger("app.api")


def client_address():
    # The socket's peer, or what ProxyFix (TRUSTED_PROXIES) took from the trusted hops:
    # never a header the client wrote itself.
    return request.remote_addr or "unknown"


class RateLimits:
    def __init__(self, rules, failure_rule, storage_uri):
        self.rules = parse_many(rules)
        self.failure_rule = parse(failure_rule)
        self.limiter = SlidingWindowCounterRateLimiter(storage_from_string(storage_uri))

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
