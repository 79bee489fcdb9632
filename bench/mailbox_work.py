"""Sending through tenants' mailboxes: one dispatcher's mails per second, spread over many.

    python -m bench.mailbox_work [--db sqlite,postgres] [--mailboxes 100] [--campaigns 10]
                                 [--leads 20000] [--seconds 60]

Seeds ``--mailboxes`` mailboxes (no gap, no warm-up, a high daily limit) whose SMTP
server is bench.sink on loopback (it takes any login), and ``--campaigns`` active
campaigns that share them out (each lists ``mailboxes / campaigns`` of them in
``settings.mailboxes``), with ``--leads`` leads due now. One dispatcher then sends for
at most ``--seconds``: each mail goes through its lead's mailbox, over that mailbox's
own logged-in SMTP session, with the caps counted under the mailboxes' row locks.
Reports mails per second, the dispatcher's CPU per mail (all its threads), how many
distinct mailboxes sent, and what the sink received.
Results go to bench/results/mailbox_work.json.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app import clock, crypto, database
from app.lifecycle import CampaignStatus
from app.models import Campaign, Mailbox, Message, Workspace, default_settings, new_id
from app.services import tenants
from bench.idle import ALWAYS, LEAD_COLUMNS, copy_rows, fresh_database, send_work
from bench.seed import STEP, _after_bulk_load, migrate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORKSPACE = "mailbox-bench"


def seed(url, *, mailboxes, campaigns, leads, port):
    db = migrate(url)
    now = clock.now()
    with database.connection():
        tenant = tenants.create_tenant("Mailbox bench", workspace_slug=WORKSPACE)[0]
        workspace = Workspace.get(Workspace.slug == WORKSPACE)
        password = crypto.encrypt("bench-password")
        boxes = [{"id": new_id("mbx"), "tenant": tenant.id, "workspace": workspace.id,
                  "email": f"sender{i}@bench.test", "smtp_host": "127.0.0.1",
                  "smtp_port": port, "smtp_security": "none",
                  "smtp_username": f"sender{i}", "smtp_password": password,
                  "daily_limit": 10**6, "min_gap_seconds": 0, "random_gap_seconds": 0,
                  "timezone": "UTC", "created_at": now, "updated_at": now}
                 for i in range(mailboxes)]
        with db.atomic():
            Mailbox.insert_many(boxes).as_rowcount().execute()
        share = max(1, mailboxes // campaigns)
        rows = []
        for i in range(campaigns):
            ids = [box["id"] for box in boxes[i * share:(i + 1) * share]]
            settings = {**default_settings(), "from_email": "bench@bench.test",
                        "timezone": "UTC", "schedule": ALWAYS, "daily_limit": 10**6,
                        "track_opens": False, "track_clicks": False, "mailboxes": ids}
            rows.append({"id": new_id("cmp"), "tenant": tenant.id, "workspace": workspace.id,
                         "name": f"Mailbox bench {i}", "status": CampaignStatus.ACTIVE,
                         "sequence": [STEP], "settings": settings, "launched_at": now,
                         "next_send_at": now, "created_at": now, "updated_at": now})
        with db.atomic():
            Campaign.insert_many(rows).as_rowcount().execute()
        ids = [row["id"] for row in rows]
        later = now.replace(year=now.year + 1)  # send_work makes them due
        copy_rows(db, "lead", LEAD_COLUMNS, (
            (new_id("lead"), ids[i % campaigns], workspace.id, f"lead{i}@example.com",
             f"Lead{i}", "{}", later, now, "pending", 0, 0) for i in range(leads)))
        _after_bulk_load(db)
    return ids


def bench(db, args):
    from app.mail.compose import Composer
    from app.mail.mailers import SMTPMailer
    from app.worker import Dispatcher
    from bench.run import free_port

    url = fresh_database(db, "mailbox_work")
    port = free_port()
    crypto.configure(os.environ.get("ENCRYPTION_KEYS") or crypto.generate_key())
    campaign_ids = seed(url, mailboxes=args.mailboxes, campaigns=args.campaigns,
                        leads=args.leads, port=port)
    with tempfile.TemporaryDirectory() as tmp:
        count_file = Path(tmp, "count")
        sink = subprocess.Popen([sys.executable, "-m", "bench.sink", "--port", str(port),
                                 "--count-file", str(count_file)], cwd=ROOT)
        time.sleep(1.0)
        try:
            database.bind(url)
            relay = SMTPMailer(host="127.0.0.1", port=port, timeout=10)
            dispatcher = Dispatcher(mailer=relay, batch=200, webhooks=False, imap=False,
                                    mailbox_allow_private=True, smtp_timeout=10,
                                    composer=Composer(base_url="http://127.0.0.1:8000",
                                                      secret="bench"))
            with database.connection():
                cpu = time.process_time()
                work = send_work(dispatcher, campaign_ids, args.seconds)
                # This process's CPU (every thread's): what a mail costs whatever the
                # machine's load, which the wall-clock rate is not.
                work["cpu_ms_per_mail"] = round(
                    (time.process_time() - cpu) * 1000 / max(work["sent"], 1), 2)
                work["mailboxes_used"] = (Message.select(Message.mailbox).distinct()
                                          .where(Message.mailbox.is_null(False)).count())
                work["through_relay"] = (Message.select()
                                         .where(Message.mailbox.is_null()).count())
        finally:
            sink.send_signal(signal.SIGTERM)
            sink.wait(timeout=10)
        work["received_by_sink"] = int(count_file.read_text())
    database.db.close()
    result = {"db": db, "mailboxes": args.mailboxes, "campaigns": args.campaigns,
              "leads": args.leads, "work": work}
    print(f"  {db}: {json.dumps(result)}", flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    results = [bench(db, args) for db in args.db.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mailbox_work.json").write_text(json.dumps(
        {"load_average": os.getloadavg(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
