"""The idle scheduler: what a dispatcher's pass costs when nearly nothing can send.

    python -m bench.idle [--db sqlite,postgres] [--campaigns 5000] [--idle-leads 1000000]
                         [--mailboxes 10000] [--in-window 0.01] [--passes 20]
                         [--work-seconds 60]

Seeds ``--campaigns`` active campaigns with ``--leads`` leads, all due, and
``--mailboxes`` mailboxes; all but ``--in-window`` of the campaigns are at night in
their time zone. The first pass visits every campaign once and stamps it (its next
window); the passes after it, with nothing to send, are the ones measured: their time
and their number of SQL queries (counted with playhouse.test_utils.count_queries, from
peewee's own query log). Then the campaigns in their window get work (their leads
due now) and one dispatcher sends it into bench.sink for at most ``--work-seconds``:
mails per second.

``make bench`` runs it after the rest (``--skip-idle`` leaves it out). Results go to
bench/results/idle.json (and into latest.json under "idle"), with the load average and
how long a fixed loop took before and after: on a shared machine both say how far the
figures are from an idle one.
"""
import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from playhouse.test_utils import count_queries

from app import clock, database, lifecycle
from app.lifecycle import CampaignStatus
from app.models import Campaign, Lead, Mailbox, Workspace, default_settings, new_id
from app.services import tenants
from bench.seed import BIG, STEP, _after_bulk_load, migrate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VAR = ROOT / "var" / "bench"
ALWAYS = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
          "start": "00:00", "end": "24:00"}
NINE_TO_FIVE = {"days": ALWAYS["days"], "start": "09:00", "end": "17:00"}


def night_zone(now):
    """A fixed-offset zone where it is 21:00-22:00 at ``now``: outside 09-17 for hours."""
    offset = (21 - now.hour + 12) % 24 - 12
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def seed_idle(url, *, campaigns, leads, mailboxes, in_window):
    """Active campaigns, all stamped due now (as the migration leaves them), each with
    its share of the leads, all due now; returns the ids of those in their window."""
    db = migrate(url)
    now = clock.now()
    started = time.monotonic()
    with database.connection():
        tenant = tenants.create_tenant("Idle bench", workspace_slug=BIG)[0]
        workspace = Workspace.get(Workspace.slug == BIG)
        _seed_mailboxes(db, tenant, workspace, mailboxes, now)
        open_ = max(1, round(campaigns * in_window))
        night = {**default_settings(), "from_email": "bench@bench.test",
                 "timezone": night_zone(now), "schedule": NINE_TO_FIVE}
        day = {**night, "timezone": "UTC", "schedule": ALWAYS, "daily_limit": 10**8}
        rows = [{"id": new_id("cmp"), "tenant": tenant.id, "workspace": workspace.id,
                 "name": f"Idle {i}", "status": CampaignStatus.ACTIVE, "sequence": [STEP],
                 "settings": day if i < open_ else night, "launched_at": now,
                 "next_send_at": now, "created_at": now, "updated_at": now}
                for i in range(campaigns)]
        for start in range(0, len(rows), 1000):
            with db.atomic():
                Campaign.insert_many(rows[start:start + 1000]).as_rowcount().execute()
        ids = [row["id"] for row in rows]
        # The open campaigns' leads are due in an hour: the idle passes find nothing.
        later = now + dt.timedelta(hours=1)
        due = {True: later, False: now}
        copy_rows(db, "lead", LEAD_COLUMNS, (
            (new_id("lead"), ids[i % campaigns], workspace.id, f"lead{i}@example.com",
             f"Lead{i}", "{}", due[i % campaigns < open_], now, "pending", 0, 0)
            for i in range(leads)))
        _after_bulk_load(db)
    return {"open": ids[:open_], "seed_seconds": round(time.monotonic() - started, 1)}


LEAD_COLUMNS = ("id", "campaign_id", "workspace_id", "email", "first_name", "custom_fields",
                "next_send_at", "created_at", "status", "current_step", "attempts")


def copy_rows(db, table, columns, rows, chunk=20000):
    """Bulk load through the driver: COPY on Postgres, executemany on SQLite (a
    million leads through the ORM's INSERT builder take minutes on a small machine)."""
    rows = iter(rows)
    names = ", ".join(columns)
    while True:
        block = [row for _, row in zip(range(chunk), rows, strict=False)]
        if not block:
            return
        with db.atomic():
            cursor = db.cursor()
            if database.is_postgres():
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in block:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                                   [tuple(str(v) if isinstance(v, dt.datetime) else v
                                          for v in row) for row in block])


def _seed_mailboxes(db, tenant, workspace, count, now):
    """Sending mailboxes without IMAP (the idle pass then polls none)."""
    rows = [{"id": new_id("mbx"), "tenant": tenant.id, "workspace": workspace.id,
             "email": f"sender{i}@bench.test", "smtp_host": "127.0.0.1", "smtp_port": 2525,
             "smtp_security": "none", "smtp_username": f"sender{i}",
             "smtp_password": "not-a-real-token", "created_at": now, "updated_at": now}
            for i in range(count)]
    for start in range(0, len(rows), 1000):
        with db.atomic():
            Mailbox.insert_many(rows[start:start + 1000]).as_rowcount().execute()


def timed_pass(dispatcher):
    """(milliseconds, mails sent) of one pass."""
    started = time.perf_counter()
    summary = dispatcher.run_once()
    return round(1000 * (time.perf_counter() - started), 2), summary.sent


def counted_pass(dispatcher):
    """The SQL statements of one pass (a pass of its own: the query log costs time)."""
    with count_queries() as counter:
        dispatcher.run_once()
    return counter.count


def idle_passes(dispatcher, passes):
    runs = [timed_pass(dispatcher) for _ in range(passes)]
    return {"median_ms": statistics.median(r[0] for r in runs),
            "min_ms": min(r[0] for r in runs),
            "max_ms": max(r[0] for r in runs), "queries": counted_pass(dispatcher),
            "sent": sum(r[1] for r in runs)}


def fresh_database(db, name):
    """The URL of an empty database for one scenario: var/bench/<name>.db on SQLite,
    the Postgres database bench_<name> (dropped and made again) on Postgres."""
    from bench.run import pg_database

    if db == "sqlite":
        VAR.mkdir(parents=True, exist_ok=True)
        path = VAR / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    url, _ = pg_database(f"bench_{name}", fresh=True)
    return url.replace("postgresql://", "postgresql+pool://", 1)


def bench_idle(db, args):
    from app.mail.compose import Composer
    from app.mail.mailers import SMTPMailer
    from app.worker import Dispatcher
    from bench.run import free_port

    url = fresh_database(db, "idle")
    seeded = seed_idle(url, campaigns=args.campaigns, leads=args.leads,
                       mailboxes=args.mailboxes, in_window=args.in_window)
    print(f"  {db}: seeded {args.campaigns} campaigns, {args.leads} leads, "
          f"{args.mailboxes} mailboxes in {seeded['seed_seconds']} s", flush=True)
    port = free_port()
    result = {"db": db, "seed_seconds": seeded["seed_seconds"]}
    with tempfile.TemporaryDirectory() as tmp:
        count_file = Path(tmp, "count")
        sink = subprocess.Popen([sys.executable, "-m", "bench.sink", "--port", str(port),
                                 "--count-file", str(count_file)], cwd=ROOT)
        time.sleep(1.0)
        try:
            database.bind(url)
            dispatcher = Dispatcher(
                mailer=SMTPMailer(host="127.0.0.1", port=port, timeout=10),
                composer=Composer(base_url="http://127.0.0.1:8000", secret="bench"),
                batch=200)
            with database.connection():
                with count_queries() as counter:
                    ms, _ = timed_pass(dispatcher)
                # Visits and stamps every campaign once (timed with the query log on).
                result["first_pass"] = {"ms": ms, "queries": counter.count}
                result["idle_pass"] = idle_passes(dispatcher, args.passes)
                dispatcher.webhooks = dispatcher.imap = False
                result["idle_pass_sending_only"] = idle_passes(dispatcher, args.passes)
                dispatcher.webhooks = dispatcher.imap = True
                result["work"] = send_work(dispatcher, seeded["open"], args.work_seconds)
        finally:
            sink.send_signal(signal.SIGTERM)
            sink.wait(timeout=10)
        result["work"]["received_by_sink"] = int(count_file.read_text())
    database.db.close()
    print(f"  {db}: {json.dumps(result)}", flush=True)
    return result


def send_work(dispatcher, open_ids, seconds):
    """The open campaigns' leads become due now; one dispatcher sends them for at most
    ``seconds``."""
    now = clock.now()
    with database.transaction():
        Lead.update(next_send_at=now).where(Lead.campaign.in_(open_ids)).execute()
        for campaign_id in open_ids:
            lifecycle.pull_due(campaign_id, now)
    started = time.perf_counter()
    sent = passes = 0
    # Bounded in time: the pass stops claiming then, and gives back what it holds.
    timer = threading.Timer(seconds, dispatcher.stop)
    timer.start()
    try:
        while not dispatcher.stopping.is_set():
            summary = dispatcher.run_once()
            passes += 1
            sent += summary.sent
            if not summary.sent:
                break
    finally:
        timer.cancel()
        dispatcher.stopping.clear()
    elapsed = time.perf_counter() - started
    return {"sent": sent, "seconds": round(elapsed, 2), "passes": passes,
            "mails_per_second": round(sent / elapsed, 1)}


def calibration_seconds():
    """How long ten million additions take here: this machine's speed at the time (a
    loaded, shared machine runs the same loop several times slower)."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - started, 2)


def main_report(args):
    """Every database's figures, and the machine's speed before and after."""
    os.environ.setdefault("SECRET_KEY", "bench")
    before = calibration_seconds()
    runs = [bench_idle(db, args) for db in args.db.split(",")]
    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "cpus": os.cpu_count(), "load_average": os.getloadavg(),
              "calibration_seconds": [before, calibration_seconds()],
              "settings": {k: getattr(args, k) for k in
                           ("db", "campaigns", "leads", "mailboxes", "in_window", "passes",
                            "work_seconds")},
              "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "idle.json").write_text(json.dumps(report, indent=2))
    return report


def add_arguments(parser):
    parser.add_argument("--campaigns", type=int, default=5000)
    parser.add_argument("--idle-leads", dest="leads", type=int, default=1_000_000)
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--in-window", type=float, default=0.01)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--work-seconds", type=float, default=60.0)


def argv(args):
    """The command line that repeats ``args``' idle options."""
    return ["--campaigns", str(args.campaigns), "--idle-leads", str(args.leads),
            "--mailboxes", str(args.mailboxes), "--in-window", str(args.in_window),
            "--passes", str(args.passes), "--work-seconds", str(args.work_seconds)]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgres")
    add_arguments(parser)
    main_report(parser.parse_args())
    print(f"results: {RESULTS / 'idle.json'}")


if __name__ == "__main__":
    main()
