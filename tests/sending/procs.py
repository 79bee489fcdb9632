"""Real `flask dispatcher run` processes for tests: one database, one loopback SMTP server.

Every process started through a ``Dispatchers`` is killed (by its own pid) and reaped
when the ``with`` block ends, whatever happened inside it.
"""
import os
import re
import signal
import subprocess
import sys
import time

from app.config import ROOT

SUMMARY = re.compile(r"sent=(\d+) retried=(\d+) bounced=(\d+) failed=(\d+) released=(\d+)")
# Settings the child must not inherit from the shell that runs the tests.
OWN_PREFIXES = ("DATABASE_", "SMTP_", "MAIL_", "DISPATCH_", "BASE_URL", "SECRET_KEY",
                "ENCRYPTION_KEYS", "OUTBOX_DIR", "VAR_DIR", "LOG_LEVEL", "FLASK_")


def dispatcher_env(app, *, smtp_port, var_dir):
    """The environment of a dispatcher that shares the test app's database and secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    env.update({
        "DATABASE_URL": app.config["DATABASE_URL"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        # Webhook secrets and mailbox passwords are stored under these.
        "ENCRYPTION_KEYS": ",".join(app.config["ENCRYPTION_KEYS"]),
        "BASE_URL": app.config["BASE_URL"],
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_TIMEOUT": "10",
        "VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    return env


class Dispatcher:
    def __init__(self, proc, log_path, log_file):
        self.proc, self.log_path, self._log_file = proc, log_path, log_file

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def output(self):
        self._log_file.flush()
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout):
        """The exit code; fails the test (with the process's output) on a timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"dispatcher {self.pid} still running after {timeout}s:\n"
                                 f"{self.output()}") from None

    def summary(self):
        """The counts printed by ``dispatcher run --once``."""
        match = SUMMARY.search(self.output())
        assert match, f"no summary from dispatcher {self.pid}:\n{self.output()}"
        sent, retried, bounced, failed, released = map(int, match.groups())
        return {"sent": sent, "retried": retried, "bounced": bounced, "failed": failed,
                "released": released}

    def pause(self):
        """Stop the process where it stands (SIGSTOP), as a stalled machine would."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self):
        try:
            self.kill()
        finally:
            self._log_file.close()


class Dispatchers:
    """Start dispatcher processes; ``with`` guarantees none outlives the test."""

    def __init__(self, env, log_dir):
        self.env, self.log_dir = env, log_dir
        self.started = []

    def start(self, *args):
        log_path = self.log_dir / f"dispatcher-{len(self.started) + 1}.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 (closed in Dispatcher.close)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "dispatcher", "run", *args],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT)
        except BaseException:
            log_file.close()
            raise
        dispatcher = Dispatcher(proc, log_path, log_file)
        self.started.append(dispatcher)
        return dispatcher

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for dispatcher in self.started:
            dispatcher.close()


def wait_until(condition, *, timeout, interval=0.01, message="condition"):
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
