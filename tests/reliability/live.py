"""A live service for reliability tests: ``gunicorn wsgi:app`` with chosen workers and
settings, an HTTP client that can send any header, and direct reads of the database.

Starting and stopping the server is the end-to-end suite's (tests/e2e): the same command,
the same readiness wait, the same stop (SIGTERM, then SIGKILL of its session).
"""
import json
import os
import subprocess
import urllib.error
import urllib.request
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app import database
from app.config import ROOT
from tests.conftest import _release
from tests.e2e.test_gunicorn import BIN, _stop, _wait_until_serving

REQUEST_TIMEOUT = 15
SLUG = "acme-corp"
CAMPAIGNS = "/api/v1/tenant/campaigns"


@contextmanager
def gunicorn(env, log_dir, *, workers=2, threads=1, name="gunicorn"):
    """A running ``gunicorn wsgi:app`` on 127.0.0.1 (a port the kernel picks); yields its
    base URL and always stops it. ``threads`` > 1 runs gthread workers."""
    log_path = log_dir / f"{name}.log"
    args = ["--workers", str(workers)]
    if threads > 1:
        args += ["--worker-class", "gthread", "--threads", str(threads)]
    else:
        args += ["--worker-class", "sync"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "wsgi:app", "-c", "gunicorn.conf.py", "--no-control-socket",
             "--bind", "127.0.0.1:0", *args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield _wait_until_serving(process, log_path)
    finally:
        _stop(process)


class Answer:
    """One HTTP answer: status, headers and the body (parsed when it is JSON)."""

    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        self.json = None
        if headers.get_content_type() == "application/json":
            self.json = json.loads(raw)

    @property
    def error_code(self):
        return (self.json or {}).get("error", {}).get("code")

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


def send(base, method, path, *, body=None, key=None, headers=None, timeout=REQUEST_TIMEOUT):
    """Send one request; error statuses are answers too. Raises OSError on no answer."""
    all_headers = {"Accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    if key:
        all_headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(base + path, data=data, headers=all_headers,
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, error.headers, error.read())


def create_campaign(base, key, name, **fields):
    answer = send(base, "POST", CAMPAIGNS, key=key,
                  body={"workspace_slug": SLUG, "name": name, **fields})
    assert answer.status == 201, answer
    return answer.json["data"]


def ready_campaign(base, key, name, *, leads=1):
    """A draft that ``start`` would launch: one step, a sender, ``leads`` leads."""
    campaign = create_campaign(base, key, name)
    url = f"{CAMPAIGNS}/{campaign['id']}"
    answer = send(base, "PATCH", url, key=key, body={
        "sequence": [{"subject": "Hello {{firstName}}", "body": "Hi there"}],
        "settings": {"from_name": "Ada from Acme", "from_email": "ada@acme.test"}})
    assert answer.status == 200, answer
    answer = send(base, "POST", f"{url}/leads", key=key, body={"leads": [
        {"email": f"lead{i}.{campaign['id']}@example.com"} for i in range(leads)]})
    assert answer.status == 200, answer
    return send(base, "GET", url, key=key).json["data"]


@contextmanager
def direct_database(url):
    """The service's database, read from this process (bound, connected, released)."""
    db = database.bind(url)
    try:
        with database.connection():
            yield db
    finally:
        _release(db)


def with_port(url, port):
    """``url`` with its host and port replaced by 127.0.0.1:``port``."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_query(url, **params):
    """``url`` with ``params`` set in its query string (replacing any of the same name)."""
    parts = urlsplit(url)
    query = {**dict(parse_qsl(parts.query)), **{k: str(v) for k, v in params.items()}}
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query),
                       parts.fragment))


def live_env(service_env, **settings):
    """The server's environment: the e2e one with ``settings`` (as strings) on top."""
    env = dict(service_env)
    env.update({name: str(value) for name, value in settings.items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def postgres_port(url):
    return urlsplit(url).port or int(os.environ.get("PGPORT", 5432))
