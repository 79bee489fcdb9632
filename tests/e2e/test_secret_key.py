"""No server starts with a secret anyone can read: gunicorn (wsgi:app with the production
config file) and the dispatcher CLI refuse, with one line naming SECRET_KEY and a
non-zero exit, when SECRET_KEY is unset or the development value, unless APP_ENV=development."""
import subprocess

import pytest

from app.config import DEV_SECRET_KEY, ROOT
from tests.e2e.test_gunicorn import BIN, COMMAND_TIMEOUT, _stop, _wait_until_serving, call, flask

pytestmark = pytest.mark.slow


def without_key(env, **settings):
    env = {k: v for k, v in env.items() if k not in ("SECRET_KEY", "APP_ENV")}
    env.update(settings)
    return env


def gunicorn(env, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "wsgi:app", "-c", "gunicorn.conf.py", "--no-control-socket",
             "--bind", "127.0.0.1:0", "--workers", "1"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    return process, log_path


def assert_refused(returncode, stderr):
    lines = stderr.strip().splitlines()
    assert returncode != 0
    assert len(lines) == 1, stderr
    assert "SECRET_KEY" in lines[0]


@pytest.mark.parametrize("settings", [{}, {"SECRET_KEY": ""}, {"SECRET_KEY": DEV_SECRET_KEY},
                                      {"SECRET_KEY": DEV_SECRET_KEY, "APP_ENV": "production"}],
                         ids=["unset", "empty", "development-value", "production-mode"])
def test_gunicorn_refuses_to_start_without_a_real_secret_key(service_env, tmp_path, settings):
    process, log_path = gunicorn(without_key(service_env, **settings), tmp_path)
    try:
        returncode = process.wait(timeout=COMMAND_TIMEOUT)
    finally:
        _stop(process)

    assert_refused(returncode, log_path.read_text())


def test_gunicorn_serves_with_a_secret_key(service_env, tmp_path):
    process, log_path = gunicorn(service_env, tmp_path)
    try:
        base = _wait_until_serving(process, log_path)
        status, _headers, _body = call(base, "GET", "/healthz")
    finally:
        _stop(process)

    assert status == 200


def test_gunicorn_serves_with_the_development_value_in_development_mode(service_env, tmp_path):
    env = without_key(service_env, APP_ENV="development")
    process, log_path = gunicorn(env, tmp_path)
    try:
        base = _wait_until_serving(process, log_path)
        status, _headers, _body = call(base, "GET", "/healthz")
    finally:
        _stop(process)

    assert status == 200


def dispatcher_once(env):
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", "dispatcher", "run", "--once"],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT)


@pytest.mark.parametrize("settings", [{}, {"SECRET_KEY": DEV_SECRET_KEY}],
                         ids=["unset", "development-value"])
def test_the_dispatcher_refuses_to_start_without_a_real_secret_key(service_env, settings):
    result = dispatcher_once(without_key(service_env, **settings))

    assert_refused(result.returncode, result.stderr)


def test_the_dispatcher_runs_with_a_secret_key(service_env):
    flask(service_env, "db", "upgrade")

    result = dispatcher_once(service_env)

    assert result.returncode == 0, result.stderr
    assert "SECRET_KEY" not in result.stderr


def test_the_dispatcher_runs_in_development_mode_without_a_key(service_env):
    flask(service_env, "db", "upgrade")

    result = dispatcher_once(without_key(service_env, APP_ENV="development"))

    assert result.returncode == 0, result.stderr
