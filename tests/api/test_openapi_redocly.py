"""Redocly CLI's recommended rules find nothing in either OpenAPI document.

The documents are read as served and linted with the repository's redocly.yaml (the
recommended ruleset; each rule it turns off says why). npx fetches the pinned CLI once
(.ci/run does it before the tests); without npx the lint is skipped.
"""
import json
import pathlib
import re
import shutil
import subprocess

import pytest

from app.api import MAIL_DOCUMENT

REDOCLY = "@redocly/cli@2.77.0"
CONFIG = pathlib.Path(__file__).resolve().parents[2] / "redocly.yaml"
DOCUMENTS = {"openapi.json": "/api/v1/openapi.json", "openapi-mail.json": MAIL_DOCUMENT}


def test_every_rule_turned_off_says_why():
    lines = CONFIG.read_text().splitlines()
    turned_off = [index for index, line in enumerate(lines)
                  if re.match(r"^\s+[\w-]+:\s*off\b", line)]
    assert turned_off, "redocly.yaml turns no rule off: drop this test's reason check"
    for index in turned_off:
        assert index > 0 and lines[index - 1].strip().startswith("#"), lines[index]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_redocly_recommended_lint_finds_nothing(client, tmp_path, name):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx (Node.js) is not installed")
    path = tmp_path / name
    path.write_text(json.dumps(client.get(DOCUMENTS[name]).json))
    run = subprocess.run(
        [npx, "--yes", REDOCLY, "lint", "--config", str(CONFIG), "--format", "json",
         str(path)], capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(run.stdout)
    problems = [(p["severity"], p["ruleId"], p["message"]) for p in report["problems"]]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, problems
    assert run.returncode == 0, run.stderr
