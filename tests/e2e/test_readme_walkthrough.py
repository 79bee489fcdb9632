"""The README's walk-through, run as written: every ```` ```sh walkthrough ```` block, in
order, by bash, against gunicorn, a dispatcher and the development SMTP server started
the way ``make run`` starts them, with the demo key ``make run`` keeps (``flask tenants
demo``, as the Makefile's ``demo`` target runs it).

Blocks run in one bash process (the variables of one block are the next one's), from a
directory laid out like a checkout: ``var/`` holds what ``make run`` keeps there and
``docs/examples/`` is the repository's. Every block must finish, and every JSON answer it
prints must be a success; the steps named in ``STEPS`` are checked answer by answer. A
block added to the README is run and checked the same way, with nothing to add here.
"""
import contextlib
import email
import email.policy
import json
import os
import re
import socket
import subprocess
import time

import pytest
from cryptography.fernet import Fernet

from app.config import ROOT
from tests.e2e import test_gunicorn
from tests.e2e.test_gunicorn import BIN, START_TIMEOUT, STOP_TIMEOUT, flask
from tests.mailboxes.conftest import free_port

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```sh walkthrough\n(.*?)^```$", re.M | re.S)
MARK = "::walkthrough-block {}::"
TITLE = re.compile(r"^# \d+\. (.+)$", re.M)
WALKTHROUGH_TIMEOUT = 120
INBOUND_SECRET = "walkthrough-inbound-secret"
MAILBOX_USER = "ada@acme.test"  # the Makefile's MAILBOX_USER


def blocks():
    return BLOCK.findall(README)


def title_of(block):
    found = TITLE.search(block)
    return found.group(1) if found else None


def answers(output):
    """The JSON answers a block printed: the API writes each on one line of its own."""
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue  # the first line of something else (pretty-printed JSON, say)
    return found


def only(items):
    assert len(items) == 1, items
    return items[0]


def lead_answers(outputs):
    return [a for a in answers(outputs) if isinstance(a.get("data"), list)
            and a["data"] and "current_step" in a["data"][0]]


def check_draft(output, state):
    campaign = only(answers(output))["data"]
    assert campaign["id"].startswith("cmp_")
    assert campaign["status"] == "draft"
    assert campaign["workspace_slug"] == "acme-corp"
    state["campaign"] = campaign["id"]


def check_steps(output, state):
    campaign = only(answers(output))["data"]
    assert campaign["id"] == state["campaign"]
    assert [step["step"] for step in campaign["sequence"]] == [1, 2]
    assert campaign["settings"]["from_email"] == "ada@acme.test"
    assert "start" in campaign["allowed_actions"] or campaign["blocked_actions"]


def check_leads(output, state):
    added = only(answers(output))["data"]
    assert (added["added"], added["duplicates"], added["invalid"]) == (1, 0, [])


def check_launch(output, state):
    campaign = only(answers(output))["data"]
    assert campaign["status"] == "active"


def check_sent(output, state):
    names = [line for line in output.splitlines() if line.endswith(".eml")]
    assert len(names) == 1, output
    [lead] = only(lead_answers(output))["data"]
    assert lead["email"] == "grace@example.com"
    assert lead["current_step"] == 1
    assert lead["next_send_at"] is not None  # step 2, two days on
    assert lead["status"] == "in_progress"


def check_reply(output, state):
    outcome, leads = answers(output)
    assert outcome["data"]["outcome"] == "reply"
    [lead] = leads["data"]
    assert outcome["data"]["lead_id"] == lead["id"]
    assert lead["status"] == "replied"
    assert lead["next_send_at"] is None


# A step's title (after "# N. ") starts with one of these; its block's output is checked.
STEPS = {
    "create a draft": check_draft,
    "steps and settings": check_steps,
    "leads": check_leads,
    "launch": check_launch,
    "the dispatcher sends": check_sent,
    "Grace answers": check_reply,
}


# gunicorn wsgi:app with the production config file, as tests/e2e/test_gunicorn.py has it.
server = test_gunicorn.server


@pytest.fixture
def checkout(tmp_path):
    """A directory laid out like a checkout after ``make run``: var/ and docs/examples/."""
    root = tmp_path / "checkout"
    (root / "var").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "docs" / "examples").symlink_to(ROOT / "docs" / "examples")
    # What the Makefile makes once (var/inbound_secret) and hands the servers.
    (root / "var" / "inbound_secret").write_text(INBOUND_SECRET + "\n")
    (root / "var" / "mailbox_password").write_text("walkthrough-mailbox-password\n")
    return root


@pytest.fixture
def service_env(service_env, checkout):
    return {**service_env, "VAR_DIR": str(checkout / "var"),
            "OUTBOX_DIR": str(checkout / "var" / "outbox"), "MAIL_BACKEND": "file",
            "INBOUND_SECRET": INBOUND_SECRET, "MAILBOX_ALLOW_PRIVATE": "true",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode()}  # var/encryption_keys


@pytest.fixture
def demo_key(service_env, checkout):
    """What the Makefile's demo target runs; the key lands in var/demo_key."""
    flask(service_env, "db", "upgrade")
    flask(service_env, "tenants", "demo", "--workspace", "acme-corp")
    return (checkout / "var" / "demo_key").read_text().strip()


@contextlib.contextmanager
def running(args, env, log_path):
    """``flask --app wsgi <args>`` in the background, as make run starts it; stopped after."""
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def dispatcher(server, service_env, tmp_path, demo_key):
    """``flask dispatcher run`` beside the server, as make run has it (faster passes)."""
    with running(["dispatcher", "run", "--interval", "0.2"], {**service_env, "BASE_URL": server},
                 tmp_path / "dispatcher.log") as process:
        yield process


@pytest.fixture
def dev_smtp(service_env, checkout, tmp_path):
    """``flask dev smtp`` with make run's arguments; yields its port once it listens."""
    port, log_path = free_port(), tmp_path / "smtp.log"
    var = checkout / "var"
    args = ["dev", "smtp", "--port", str(port), "--user", MAILBOX_USER,
            "--password-file", str(var / "mailbox_password"), "--dir", str(var / "mailbox")]
    with running(args, service_env, log_path) as process:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, log_path.read_text()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield port


def run_walkthrough(checkout, base, smtp_port):
    """Every block in one bash process; (exit status, each block's output)."""
    script = "".join(f"echo '{MARK.format(i)}'\n{block}\n" for i, block in enumerate(blocks()))
    # Only what a new terminal has: no key, no secret, the BASE_URL make run printed.
    env = {"PATH": os.environ["PATH"], "HOME": str(checkout), "BASE_URL": base,
           "MAILBOX_PORT": str(smtp_port)}
    result = subprocess.run(["bash", "-e", "-c", script], cwd=checkout, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=WALKTHROUGH_TIMEOUT)
    parts = re.split(r"^::walkthrough-block (\d+)::\n", result.stdout, flags=re.M)
    outputs = dict(zip(map(int, parts[1::2]), parts[2::2], strict=True))
    return result.returncode, result.stdout, outputs


def test_the_readme_marks_the_walkthrough_and_names_every_checked_step():
    titles = [title_of(block) for block in blocks()]
    assert len(titles) >= len(STEPS) + 1  # the variables, then the steps
    for start in STEPS:
        assert len([t for t in titles if t and t.startswith(start)]) == 1, (start, titles)


def test_the_readme_walkthrough_runs_as_written(server, dispatcher, dev_smtp, checkout):
    returncode, output, outputs = run_walkthrough(checkout, server, dev_smtp)

    assert returncode == 0, output
    assert len(outputs) == len(blocks()), output
    state = {}
    for index, block in enumerate(blocks()):
        out = outputs[index]
        for answer in answers(out):
            assert answer.get("success") is True, (block, out)
        title = title_of(block)
        checks = [check for start, check in STEPS.items() if title and title.startswith(start)]
        for check in checks:
            check(out, state)
    # The mail went through the mailbox, from its address, to the development SMTP
    # server's folder (nothing to the file outbox); its links point at the server.
    [mail] = (checkout / "var" / "mailbox").glob("*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    assert message["From"].addresses[0].addr_spec == MAILBOX_USER
    assert message["To"].addresses[0].addr_spec == "grace@example.com"
    assert f"{server}/u/".encode() in mail.read_bytes()
    assert not list((checkout / "var" / "outbox").glob("*.eml"))
