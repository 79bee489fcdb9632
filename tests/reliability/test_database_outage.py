"""The database goes away under traffic and comes back: the service answers 503s it can
be retried from meanwhile and recovers by itself, without a restart.

gunicorn reaches Postgres through a TCP proxy in this process. Cutting the proxy closes
its listener and every connection through it (the server's pooled connections break
mid-use, new ones are refused); restoring it listens on the same port again.
"""
import contextlib
import socket
import threading
import time

import pytest

from app.models import Campaign
from tests.conftest import ON_POSTGRES
from tests.reliability.live import (
    CAMPAIGNS,
    SLUG,
    create_campaign,
    direct_database,
    gunicorn,
    live_env,
    postgres_port,
    send,
    with_port,
    with_query,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="a database server to lose needs Postgres "
                       "(set TEST_DATABASE_URL)"),
]

# Every wait is bounded: a request that gets no answer in this time is a hang.
ANSWER_TIMEOUT = 10
RECOVERY_TIMEOUT = 30
THREAD_TIMEOUT = 5


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the database; ``cut()`` and ``restore()`` it."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = 0
        self._lock = threading.Lock()
        self._listener = None
        self._acceptor = None
        self._sockets = set()
        self._threads = []

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # the same port again after a cut
        listener.listen(64)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = self._spawn(self._accept, listener)

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def _accept(self, listener):
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=THREAD_TIMEOUT)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                _hang_up(sock)

    def cut(self):
        """Stop listening and break every connection through the proxy."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        _hang_up(listener)  # refused from now on, not queued
        self._acceptor.join(THREAD_TIMEOUT)
        for sock in sockets:
            _hang_up(sock)
        for thread in self._threads:
            thread.join(THREAD_TIMEOUT)
        self._threads = [t for t in self._threads if t.is_alive()]
        assert not self._threads, "proxy threads still running after the cut"

    def restore(self):
        self.start()

    def close(self):
        if self._listener is not None:
            self.cut()


def _hang_up(sock):
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def proxy(db_url):
    proxy = TcpProxy(postgres_port(db_url))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture(params=[1, 4], ids=["sync-workers", "threaded-workers"])
def server(request, service_env, db_url, proxy, tmp_path):
    # Small pools that give up waiting quickly, and a connect that cannot hang.
    url = with_query(with_port(db_url, proxy.port), max_connections=4, timeout=2,
                     connect_timeout=3)
    env = live_env(service_env, DATABASE_URL=url, RATE_LIMIT="1000000/minute")
    with gunicorn(env, tmp_path, workers=2, threads=request.param) as base:
        yield base


class Traffic:
    """Reads and writes from a few threads until stopped; keeps every answer's status
    (or the error of a request that got none)."""

    def __init__(self, base, key, campaign_id, threads=3):
        self.base, self.key, self.campaign_id = base, key, campaign_id
        self.outcomes = []
        self.created = []
        self.problems = []  # answers that are not what an outage may give
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                         for n in range(threads)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(ANSWER_TIMEOUT + THREAD_TIMEOUT)
        assert not any(t.is_alive() for t in self._threads), "traffic thread hung"

    def _run(self, number):
        url = f"{CAMPAIGNS}/{self.campaign_id}"
        requests = [
            ("GET", f"{CAMPAIGNS}?workspace={SLUG}", None),
            ("GET", url, None),
            ("PATCH", url, {"settings": {"from_name": f"Traffic {number}"}}),
            ("POST", CAMPAIGNS, {"workspace_slug": SLUG, "name": f"Traffic {number}"}),
        ]
        for count in range(10_000):
            if self._stop.is_set():
                return
            method, path, body = requests[count % len(requests)]
            try:
                answer = send(self.base, method, path, body=body, key=self.key,
                              timeout=ANSWER_TIMEOUT)
            except Exception as error:  # no answer (or half of one): a hang or a hang-up
                self.outcomes.append((method, path, repr(error)))
                continue
            self.outcomes.append((method, path, answer.status))
            try:
                if answer.status == 201:
                    self.created.append(answer.json["data"]["id"])
                elif answer.status == 503:
                    _assert_retryable(answer)
            except (AssertionError, KeyError, TypeError, ValueError) as error:
                self.problems.append((method, path, answer, repr(error)))
            time.sleep(0.02)


def _assert_retryable(answer):
    assert answer.status == 503, answer
    assert answer.json["success"] is False, answer
    assert answer.error_code == "database_unavailable", answer
    assert set(answer.json["error"]) == {"code", "message", "details"}
    assert int(answer.headers["Retry-After"]) > 0, answer.headers


def _requests_of_every_kind(base, key, campaign_id):
    url = f"{CAMPAIGNS}/{campaign_id}"
    return [
        send(base, "GET", f"{CAMPAIGNS}?workspace={SLUG}", key=key, timeout=ANSWER_TIMEOUT),
        send(base, "GET", url, key=key, timeout=ANSWER_TIMEOUT),
        send(base, "PATCH", url, key=key, body={"name": "During the outage"},
             timeout=ANSWER_TIMEOUT),
        send(base, "POST", CAMPAIGNS, key=key, timeout=ANSWER_TIMEOUT,
             body={"workspace_slug": SLUG, "name": "During the outage"}),
        send(base, "POST", CAMPAIGNS, key=key, timeout=ANSWER_TIMEOUT,
             body={"workspace_slug": SLUG, "name": "During the outage"},
             headers={"Idempotency-Key": "written-during-the-outage"}),
        send(base, "POST", f"{url}/leads", key=key, timeout=ANSWER_TIMEOUT,
             body={"leads": [{"email": "outage@example.com"}]}),
        send(base, "POST", f"{url}/send", key=key, body={"action": "start"},
             timeout=ANSWER_TIMEOUT),
    ]


def _wait_for_recovery(base, key, campaign_id):
    """Poll until several answers in a row (so from every worker) are 200s."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    in_a_row, last = 0, None
    while in_a_row < 10:
        if time.monotonic() > deadline:
            pytest.fail(f"no recovery within {RECOVERY_TIMEOUT}s; last answer: {last!r}")
        last = send(base, "GET", f"{CAMPAIGNS}/{campaign_id}", key=key, timeout=ANSWER_TIMEOUT)
        assert last.status in (200, 503), last
        if last.status == 503:
            _assert_retryable(last)
            in_a_row = 0
            time.sleep(0.2)
        else:
            in_a_row += 1


def test_database_outage_gives_retryable_503s_and_recovers_without_restart(
        server, proxy, api_key, db_url):
    campaign = create_campaign(server, api_key, "Before the outage")
    with Traffic(server, api_key, campaign["id"]) as traffic:
        time.sleep(1)
        proxy.cut()
        time.sleep(1)
        # Every kind of request, on broken pooled connections and refused new ones.
        for answer in _requests_of_every_kind(server, api_key, campaign["id"]):
            _assert_retryable(answer)
        healthz = send(server, "GET", "/healthz", timeout=ANSWER_TIMEOUT)
        assert (healthz.status, healthz.json["data"]) == (200, {"status": "ok"})
        readyz = send(server, "GET", "/readyz", timeout=ANSWER_TIMEOUT)
        assert readyz.status == 503, readyz
        assert readyz.error_code == "database_unavailable"
        assert int(readyz.headers["Retry-After"]) > 0

        proxy.restore()
        _wait_for_recovery(server, api_key, campaign["id"])
        time.sleep(1)

    assert not traffic.problems, traffic.problems[:5]
    statuses = [outcome[2] for outcome in traffic.outcomes]
    # Every request got an answer, and none was a 500.
    assert set(statuses) <= {200, 201, 503}, [o for o in traffic.outcomes
                                              if o[2] not in (200, 201, 503)]
    assert {200, 201, 503} <= set(statuses), statuses  # traffic met all three phases

    # Writes work again, on the same server processes.
    assert send(server, "GET", "/readyz").status == 200
    after = create_campaign(server, api_key, "After the outage")
    patched = send(server, "PATCH", f"{CAMPAIGNS}/{after['id']}", key=api_key,
                   body={"settings": {"from_name": "Back again"}})
    assert patched.status == 200, patched
    retried = send(server, "POST", CAMPAIGNS, key=api_key,
                   body={"workspace_slug": SLUG, "name": "During the outage"},
                   headers={"Idempotency-Key": "written-during-the-outage"})
    assert retried.status == 201, retried  # a 503 was not kept as the key's answer
    assert "Idempotent-Replayed" not in retried.headers

    with direct_database(db_url):
        stored = {c.id: c for c in Campaign.select()}
    assert set(traffic.created) | {after["id"], retried.json["data"]["id"]} <= set(stored)
    assert stored[after["id"]].settings["from_name"] == "Back again"
    assert [c.name for c in stored.values()].count("During the outage") == 1
