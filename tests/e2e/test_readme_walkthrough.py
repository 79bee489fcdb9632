"""The README's walk-through, run as written: every ```` ```sh walkthrough ```` block, in
order, by bash, against gunicorn and a dispatcher started the way ``make run`` starts
them, with the demo key ``make run`` keeps (``flask tenants demo``, as the Makefile's
``demo`` target runs it).

Blocks run in one bash process (the variables of one block are the next one's), from a
directory laid out like a checkout: ``var/`` holds what ``make run`` keeps there and
``docs/examples/`` is the repository's. Every block must finish, and every JSON answer it
prints must be a success; the steps named in ``STEPS`` are checked answer by answer. A
block added to the README is run and checked the same way, with nothing to add here.
"""
import json
import os
import re
import subprocess

import pytest

from app.config import ROOT
from tests.e2e import test_gunicorn
from tests.e2e.test_gunicorn import BIN, STOP_TIMEOUT, flask

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```sh walkthrough\n(.*?)^```$", re.M | re.S)
MARK = "::walkthrough-block {}::"
TITLE = re.compile(r"^# \d+\. (.+)$", re.M)
WALKTHROUGH_TIMEOUT = 120
INBOUND_SECRET = "walkthrough-inbound-secret"


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
    return root


@pytest.fixture
def service_env(service_env, checkout):
    return {**service_env, "VAR_DIR": str(checkout / "var"),
            "OUTBOX_DIR": str(checkout / "var" / "outbox"), "MAIL_BACKEND": "file",
            "INBOUND_SECRET": INBOUND_SECRET}


@pytest.fixture
def demo_key(service_env, checkout):
    """What the Makefile's demo target runs; the key lands in var/demo_key."""
    flask(service_env, "db", "upgrade")
    flask(service_env, "tenants", "demo", "--workspace", "acme-corp")
    return (checkout / "var" / "demo_key").read_text().strip()


@pytest.fixture
def dispatcher(server, service_env, tmp_path, demo_key):
    """``flask dispatcher run`` beside the server, as make run has it (faster passes)."""
    log_path = tmp_path / "dispatcher.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "dispatcher", "run", "--interval", "0.2"],
            cwd=ROOT, env={**service_env, "BASE_URL": server}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=STOP_TIMEOUT)


def run_walkthrough(checkout, base):
    """Every block in one bash process; (exit status, each block's output)."""
    script = "".join(f"echo '{MARK.format(i)}'\n{block}\n" for i, block in enumerate(blocks()))
    # Only what a new terminal has: no key, no secret, the BASE_URL make run printed.
    env = {"PATH": os.environ["PATH"], "HOME": str(checkout), "BASE_URL": base}
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


def test_the_readme_walkthrough_runs_as_written(server, dispatcher, checkout):
    returncode, output, outputs = run_walkthrough(checkout, server)

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
    # The mail's links point at the server the walk-through talked to.
    [mail] = (checkout / "var" / "outbox").glob("*.eml")
    assert f"{server}/u/".encode() in mail.read_bytes()
