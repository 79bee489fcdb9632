"""`make run`'s commands, as `make -n` prints them (nothing is run): the links in mail
follow PORT, and the demo gets the development INBOUND_SECRET."""
import os
import shutil
import subprocess

import pytest

from app.config import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def planned(tmp_path, *args, target="run", **environ):
    """The command lines `make -n <target> ...` would run (prerequisites included)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BASE_URL", "PORT", "HOST", "INBOUND_SECRET", "MAKEFLAGS")}
    result = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}", *args],
                            cwd=ROOT, env={**env, **environ}, capture_output=True, text=True,
                            timeout=30, check=True)
    return result.stdout


def commands_of(plan, word):
    return [line for line in plan.splitlines() if word in line]


def test_base_url_follows_port(tmp_path):
    plan = planned(tmp_path, "PORT=8765")
    [demo] = commands_of(plan, "tenants demo")
    [export] = commands_of(plan, "export ")
    assert 'BASE_URL="http://127.0.0.1:8765"' in demo
    assert 'BASE_URL="http://127.0.0.1:8765"' in export
    assert "--bind 127.0.0.1:8765" in plan


def test_the_default_port_gives_the_default_base_url(tmp_path):
    [export] = commands_of(planned(tmp_path), "export ")
    assert 'BASE_URL="http://127.0.0.1:8000"' in export


def test_a_base_url_in_the_environment_wins(tmp_path):
    plan = planned(tmp_path, "PORT=8765", BASE_URL="https://campaigns.example.com")
    [export] = commands_of(plan, "export ")
    assert 'BASE_URL="https://campaigns.example.com"' in export
    assert "--bind 127.0.0.1:8765" in plan


def test_the_demo_and_the_servers_get_the_kept_inbound_secret(tmp_path):
    plan = planned(tmp_path)
    [demo] = commands_of(plan, "tenants demo")
    [export] = commands_of(plan, "export ")
    for line in (demo, export):
        assert 'INBOUND_SECRET="${INBOUND_SECRET:-$(cat var/inbound_secret)}"' in line


def test_make_keys_lists_the_demo_tenants_keys_with_the_laptops_secret_key(tmp_path):
    [line] = commands_of(planned(tmp_path, target="keys"), "keys list")
    assert line.endswith("keys list --tenant Demo")
    assert 'SECRET_KEY="${SECRET_KEY:-$(cat var/secret_key)}"' in line


def test_make_run_says_how_to_list_the_demo_keys(tmp_path):
    assert 'echo "Its keys: make keys"' in planned(tmp_path)


def test_make_run_starts_the_development_smtp_server_on_mailbox_port(tmp_path):
    plan = planned(tmp_path, "MAILBOX_PORT=2626")
    [smtp] = commands_of(plan, "dev smtp")
    assert "--port 2626 --user ada@acme.test" in smtp
    [password] = commands_of(plan, "--password-file")
    assert "--password-file var/mailbox_password --dir var/mailbox" in password
    assert "kill $dispatcher $smtp" in plan  # stopped with the others
    [export] = commands_of(plan, "export ")
    assert "MAILBOX_ALLOW_PRIVATE=true" in export
    [banner] = commands_of(plan, "Development SMTP")
    assert "127.0.0.1:2626" in banner
