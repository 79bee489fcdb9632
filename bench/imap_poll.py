"""One IMAP polling round over many mailboxes, against a real Dovecot on loopback.

    python -m bench.imap_poll [--mailboxes 200] [--concurrency 1,4,8] [--rounds 3]
                              [--db sqlite|postgres] [--timeout 10]

Dovecot is started as the tests start it (tests/mailboxes/conftest.py), with one
passwd-file user per mailbox; the database is migrated fresh (SQLite in a temp dir, or
the Postgres database ``bench_imap``) and holds one workspace with that many mailboxes,
each reading its user's INBOX. A round is one ``imap_poll.poll_due`` call with every
mailbox due, messages classified by the worker's own ``classify`` (each a reply to no
message of ours: looked up, ignored). Two kinds of round, each ``--rounds`` times per
concurrency: "new" (one new message in every mailbox, appended before the round, not
timed) and "idle" (nothing new: the steady state). At most ``concurrency`` IMAP
connections are open at once (the thread pool); each has ``--timeout`` seconds.
Results go to bench/results/imap_poll.json.
"""
import argparse
import contextlib
import json
import platform
import statistics
import tempfile
import time

from imapclient import IMAPClient

from app import crypto, database
from app.models import Mailbox
from app.services import imap_poll, mailboxes, tenants
from app.worker.loop import classify
from bench.run import RESULTS, pg_database
from bench.seed import migrate
from tests.mailboxes.conftest import dovecot_binary, running_dovecot

PASSWORD = "bench-imap-p4ss"


def user(i):
    return f"user{i:04d}@bench.test"


def reply(i, round_number):
    return (f"From: Lead {i} <lead{i}@example.com>\r\n"
            f"To: {user(i)}\r\n"
            f"Subject: Re: Hello ({round_number})\r\n"
            f"Message-ID: <r{round_number}-{i}@example.com>\r\n"
            f"In-Reply-To: <never-sent-{i}@bench.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            "Sounds interesting, tell me more.\r\n").encode()


def seed(count, port):
    tenant, workspace, _key, _secret = tenants.create_tenant("Bench IMAP",
                                                             workspace_slug="bench-imap")
    for i in range(count):
        mailboxes.create_mailbox(
            tenant, workspace_slug=workspace.slug, email=user(i),
            smtp={"host": "127.0.0.1", "port": 25, "security": "none",
                  "username": user(i), "password": PASSWORD},
            imap={"host": "127.0.0.1", "port": port, "security": "none",
                  "username": user(i), "password": PASSWORD, "folder": "INBOX"})


def deliver(count, port, round_number):
    """One new message in every user's INBOX."""
    for i in range(count):
        with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10) as client:
            client.login(user(i), PASSWORD)
            client.append("INBOX", reply(i, round_number))


def one_round(count, concurrency, timeout):
    """Every mailbox due, one poll_due call: (seconds, this process's CPU seconds,
    messages read, mailboxes failed)."""
    Mailbox.update(next_poll_at=None).execute()
    started, cpu = time.perf_counter(), time.process_time()
    read = imap_poll.poll_due(classify, limit=count, concurrency=concurrency,
                              timeout=timeout, allow_private=True)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    failed = Mailbox.select().where(Mailbox.imap_error.is_null(False)).count()
    return seconds, cpu, read, failed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    if dovecot_binary() is None:
        raise SystemExit("Dovecot is not installed (apt-get install dovecot-imapd)")
    crypto.configure(crypto.generate_key())
    count = args.mailboxes
    users = {user(i): PASSWORD for i in range(count)}
    with contextlib.ExitStack() as stack:
        if args.db == "sqlite":
            directory = stack.enter_context(tempfile.TemporaryDirectory())
            url = f"sqlite:///{directory}/imap.db"
        else:
            url, _ = pg_database("bench_imap", fresh=True)
            url = url.replace("postgresql://", "postgresql+pool://") + "?max_connections=20"
        migrate(url)
        port = stack.enter_context(running_dovecot(users))
        stack.enter_context(database.connection())
        seed(count, port)
        results, round_number = [], 0
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            for kind in ("new", "idle"):
                times, cpus = [], []
                for _ in range(args.rounds):
                    round_number += 1
                    if kind == "new":
                        deliver(count, port, round_number)
                    seconds, cpu, read, failed = one_round(count, concurrency, args.timeout)
                    expected = count if kind == "new" else 0
                    if (read, failed) != (expected, 0):
                        raise SystemExit(f"round {round_number}: read {read} of {expected}, "
                                         f"{failed} mailboxes failed")
                    times.append(seconds)
                    cpus.append(cpu)
                row = {"db": args.db, "mailboxes": count, "concurrency": concurrency,
                       "kind": kind, "median_s": round(statistics.median(times), 3),
                       "rounds_s": [round(t, 3) for t in times],
                       "cpu_ms_per_mailbox": round(1000 * statistics.median(cpus) / count, 1)}
                results.append(row)
                print(f"{args.db} {count} mailboxes, {concurrency} at once, {kind}: "
                      f"median {row['median_s']} s (rounds {row['rounds_s']}), "
                      f"{row['cpu_ms_per_mailbox']} ms CPU per mailbox here", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "imap_poll.json").write_text(json.dumps(
        {"machine": platform.platform(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
