"""The service as it is deployed: migrated and provisioned by the CLI, served by gunicorn.

Each test migrates a database with ``flask --app wsgi db upgrade``, creates a tenant with
``flask --app wsgi tenants create``, starts ``gunicorn wsgi:app`` with the production
config file (two sync workers, a port the kernel picks) and talks to it over HTTP.
On Postgres (TEST_DATABASE_URL) it uses the suite's migrated throw-away database, so the
upgrade must find nothing to do; on SQLite it starts from an empty file.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.config import ROOT
from tests.conftest import ON_POSTGRES, SENDER, STEP

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
COMMAND_TIMEOUT = 60
START_TIMEOUT = 30
STOP_TIMEOUT = 15
REQUEST_TIMEOUT = 10
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
BASE = "/api/v1/tenant/campaigns"


@pytest.fixture
def service_env(request, tmp_path):
    """The environment of every process: one database, files kept under tmp_path."""
    # Postgres: the suite's throw-away database (emptied after the test); SQLite: a new file.
    url = request.getfixturevalue("db_url") if ON_POSTGRES else f"sqlite:///{tmp_path}/e2e.db"
    env = {**os.environ, "DATABASE_URL": url, "VAR_DIR": str(tmp_path),
           "OUTBOX_DIR": str(tmp_path / "outbox"), "SECRET_KEY": "e2e-secret"}
    env.pop("FLASK_APP", None)
    return env


def flask(env, *args):
    result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert result.returncode == 0, f"flask {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture
def api_key(service_env):
    upgrade = flask(service_env, "db", "upgrade")
    if ON_POSTGRES:  # the suite's database is migrated already: nothing to do, no error
        assert "database is up to date" in upgrade, upgrade
    else:
        assert "applied: 0001_" in upgrade, upgrade
    flask(service_env, "db", "status")  # exits 1 while a migration is pending
    output = flask(service_env, "tenants", "create", "Acme", "--workspace", "acme-corp")
    return output.strip().splitlines()[-1]


@pytest.fixture
def server(service_env, tmp_path):
    """``gunicorn wsgi:app`` on 127.0.0.1; yields its base URL, always stopped after."""
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "wsgi:app", "-c", "gunicorn.conf.py", "--no-control-socket",
             "--bind", "127.0.0.1:0", "--workers", "2", "--worker-class", "sync"],
            cwd=ROOT, env=service_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        yield _wait_until_serving(process, log_path)
    finally:
        _stop(process)


def _wait_until_serving(process, log_path):
    deadline = time.monotonic() + START_TIMEOUT
    base = None
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gunicorn exited:\n{log_path.read_text()}"
        if base is None:
            found = LISTENING.search(log_path.read_text())
            base = found and f"http://127.0.0.1:{found.group(1)}"
        if base:
            try:
                if call(base, "GET", "/api/v1/openapi.json")[0] == 200:
                    return base
            except OSError:
                pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not serve within {START_TIMEOUT}s:\n{log_path.read_text()}")


def _stop(process):
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # the master stops its workers gracefully
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the session started for this server
        process.wait(timeout=STOP_TIMEOUT)


def call(base, method, path, body=None, key=None):
    """(status, headers, raw body) of one request; error statuses are answers too."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def call_json(base, method, path, body=None, key=None):
    status, headers, raw = call(base, method, path, body, key)
    assert headers.get_content_type() == "application/json", raw[:500]
    return status, json.loads(raw)


def test_campaign_lifecycle_through_gunicorn(server, api_key):
    status, created = call_json(server, "POST", BASE, key=api_key,
                                body={"workspace_slug": "acme-corp", "name": "Q4 Outreach"})
    assert status == 201, created
    campaign = created["data"]
    assert campaign["id"].startswith("cmp_")
    assert campaign["status"] == "draft"
    url = f"{BASE}/{campaign['id']}"

    status, listed = call_json(server, "GET", f"{BASE}?workspace=acme-corp", key=api_key)
    assert status == 200, listed
    assert [item["id"] for item in listed["data"]] == [campaign["id"]]
    assert listed["pagination"] == {"total": 1, "limit": 20, "offset": 0, "has_more": False}

    status, fetched = call_json(server, "GET", url, key=api_key)
    assert status == 200, fetched
    assert fetched["data"]["name"] == "Q4 Outreach"
    assert fetched["data"]["sequence"] == []

    status, patched = call_json(server, "PATCH", url, key=api_key,
                                body={"name": "Q4 Launch", "sequence": [STEP],
                                      "settings": {**SENDER, "daily_limit": 100}})
    assert status == 200, patched
    assert patched["data"]["name"] == "Q4 Launch"
    assert patched["data"]["settings"]["daily_limit"] == 100
    assert patched["data"]["settings"]["timezone"] == "UTC"
    assert patched["data"]["sequence"][0]["subject"] == STEP["subject"]

    status, added = call_json(server, "POST", f"{url}/leads", key=api_key,
                              body={"leads": [{"email": "grace@example.com"}]})
    assert status == 200, added

    status, started = call_json(server, "POST", f"{url}/send", key=api_key,
                                body={"action": "start"})
    assert status == 200, started
    assert started["data"]["status"] == "active"
    # Whichever worker answers, it reads what the other one wrote.
    for _ in range(4):
        status, again = call_json(server, "GET", url, key=api_key)
        assert (status, again["data"]["status"]) == (200, "active")


def test_errors_keep_the_envelope_behind_gunicorn(server, api_key):
    status, unauthorized = call_json(server, "GET", f"{BASE}?workspace=acme-corp")
    assert status == 401
    assert unauthorized["success"] is False
    assert set(unauthorized["error"]) == {"code", "message", "details"}

    status, missing = call_json(server, "GET", f"{BASE}/cmp_missing", key=api_key)
    assert status == 404
    assert missing["error"]["code"] == "campaign_not_found"


def test_openapi_document_and_docs_are_served(server, api_key):
    status, document = call_json(server, "GET", "/api/v1/openapi.json")
    assert status == 200
    assert document["info"]["title"] == "Campaigns API"
    assert {BASE, f"{BASE}/{{campaign_id}}", f"{BASE}/{{campaign_id}}/send"} <= set(
        document["paths"])
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"

    status, headers, page = call(server, "GET", "/api/v1/docs")
    assert status == 200
    assert headers.get_content_type() == "text/html"
    assert b"swagger-ui" in page
    assert b"/api/v1/openapi.json" in page
