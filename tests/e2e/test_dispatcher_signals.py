"""`flask dispatcher run` stops on signals that come close together, as Ctrl-C on
`make run` sends them (SIGINT to the whole group, then the recipe's trap sends SIGTERM):
the handler never waits on a lock the interrupted main thread holds."""
import signal
import subprocess
import time

import pytest

from app.config import ROOT
from tests.e2e.test_gunicorn import BIN, STOP_TIMEOUT, flask

pytestmark = pytest.mark.slow

# A deadlock needs a signal to land inside a few instructions of the loop's wait: bursts
# of signals, a few times over, find such a moment most runs of a handler that has one.
TRIALS = 4
BURST = 200


def dispatcher(env):
    process = subprocess.Popen(
        [str(BIN / "flask"), "--app", "wsgi", "dispatcher", "run", "--interval", "0.01"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert "dispatcher running" in process.stderr.readline()
    return process


def test_a_burst_of_signals_stops_the_dispatcher(service_env):
    flask(service_env, "db", "upgrade")
    for _ in range(TRIALS):
        process = dispatcher(service_env)
        try:
            time.sleep(0.2)
            for number in range(BURST):
                if process.poll() is not None:
                    break
                process.send_signal(signal.SIGINT if number == 0 else signal.SIGTERM)
                time.sleep(0.0005)
            returncode = process.wait(timeout=STOP_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()
        # 0, or killed by a SIGTERM that came once the interpreter, finishing, had put
        # the default handler back: either way it stopped.
        assert returncode in (0, -signal.SIGTERM)
