"""Seed a database at a chosen scale for the benchmarks (campaigns, stats, leads).

Half of the campaigns sit in one large workspace ("bench-big"), the rest spread over
99 others, so the list endpoint is measured where it is hardest: deep in a big tenant.
"""
import datetime as dt
import json
import random
import time
from pathlib import Path

from playhouse.migrations import Runner

from app import clock, database
from app.config import ROOT
from app.lifecycle import CampaignStatus, LeadStatus, MessageStatus
from app.models import Campaign, Lead, Message, Tenant, Workspace, default_settings, new_id
from app.services import tenants

BIG = "bench-big"
CHUNK = 2000
STEP = {"step": 1, "type": "email", "subject": "Hello {{firstName}}",
        "body": "Hi {{ firstName | default('there') }}, a short note.", "delay": 0,
        "delay_unit": "days"}


def migrate(url):
    db = database.bind(url)
    with database.connection():
        Runner(db, directory=str(ROOT / "migrations")).up()
    return db


def seed_campaigns(url, scale, sidecar: Path):
    """Create the bench tenant with ``scale`` campaigns; returns what the load needs."""
    if sidecar.exists():
        return json.loads(sidecar.read_text())
    db = migrate(url)
    started = time.monotonic()
    rng = random.Random(42)
    with database.connection():
        tenant, big, _key, secret = tenants.create_tenant("Bench", workspace_slug=BIG)
        workspaces = [big] + [Workspace.create(tenant=tenant, slug=f"bench-{i:03d}",
                                               name=f"bench-{i:03d}") for i in range(99)]
        settings = default_settings()
        sequence = [STEP]
        base = clock.now()
        rows = []
        for i in range(scale):
            workspace = big if i % 2 == 0 else workspaces[1 + rng.randrange(99)]
            sent = rng.randrange(0, 500)
            rows.append((new_id("cmp"), tenant.id, workspace.id, f"Campaign {i}",
                         "lead_gen", tuple(CampaignStatus)[i % 4], sequence, settings, 1, sent,
                         sent // 3, sent // 10, sent // 20, sent // 50, sent // 100,
                         base, base))
            if len(rows) >= CHUNK:
                _insert(db, rows)
                rows = []
        if rows:
            _insert(db, rows)
        _after_bulk_load(db)
        sample = (Campaign.select(Campaign.id)
                  .where(Campaign.workspace == big).order_by(Campaign.id.desc()).first())
    info = {"key": secret, "workspace": BIG, "campaign": sample.id, "scale": scale,
            "seconds": round(time.monotonic() - started, 1)}
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps(info))
    return info


def _insert(db, rows):
    fields = [Campaign.id, Campaign.tenant, Campaign.workspace, Campaign.name, Campaign.goal,
              Campaign.status, Campaign.sequence, Campaign.settings, Campaign.version,
              Campaign.sent_count, Campaign.opened_count, Campaign.replied_count,
              Campaign.clicked_count, Campaign.bounced_count, Campaign.unsubscribed_count,
              Campaign.created_at, Campaign.updated_at]
    with db.atomic():
        Campaign.insert_many(rows, fields=fields).as_rowcount().execute()


def _after_bulk_load(db):
    if database.is_postgres():
        db.execute_sql("ANALYZE")
    else:
        db.execute_sql("ANALYZE")
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def seed_leads(url, leads, *, campaigns=10, from_email="bench@bench.test", limited=None,
               history=None):
    """Active campaigns with ``leads`` due leads in all; returns the campaign ids.

    ``limited``: the first campaign's daily limit (the others' is far above the run).
    ``history`` (default: as many as ``leads``): mails an earlier, completed campaign
    sent, so the message table is not empty when the planner's statistics are taken,
    as it never is once a platform has been sending. With an empty one, a plan cached
    in the first seconds scans the table and stays, and the rate falls as it grows.
    """
    db = migrate(url)
    with database.connection():
        tenant = Tenant.select().first() or tenants.create_tenant(
            "Bench", workspace_slug=BIG)[0]
        workspace = Workspace.get(Workspace.slug == BIG)
        settings = default_settings()
        # Above what the API accepts: the run measures throughput, not the limit.
        settings.update(daily_limit=10**8, from_email=from_email,
                        schedule={"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                  "start": "00:00", "end": "24:00"})
        now = clock.now()
        ids = []
        for n in range(campaigns):
            own = {**settings, "daily_limit": limited} if n == 0 and limited else settings
            campaign = Campaign.create(tenant=tenant, workspace=workspace, name="Dispatch bench",
                                       status=CampaignStatus.ACTIVE, sequence=[STEP], settings=own,
                                       launched_at=now, next_send_at=now)
            ids.append(campaign.id)
        rows = []
        for i in range(leads):
            rows.append({"id": new_id("lead"), "campaign": ids[i % campaigns],
                         "workspace": workspace.id, "email": f"lead{i}@example.com",
                         "first_name": f"Lead{i}", "custom_fields": {}, "next_send_at": now,
                         "created_at": now})
            if len(rows) >= CHUNK:
                with db.atomic():
                    Lead.insert_many(rows).as_rowcount().execute()
                rows = []
        if rows:
            with db.atomic():
                Lead.insert_many(rows).as_rowcount().execute()
        _seed_history(db, workspace, tenant, settings, leads if history is None else history)
        _after_bulk_load(db)
    return ids


EARLIER = "Earlier campaign"


def _seed_history(db, workspace, tenant, settings, count):
    """An earlier campaign, completed: ``count`` leads, each sent step 1 a week ago."""
    if not count:
        return
    then = clock.now() - dt.timedelta(days=7)
    earlier = Campaign.create(tenant=tenant, workspace=workspace, name=EARLIER,
                              status=CampaignStatus.COMPLETED, sequence=[STEP], settings=settings,
                              sent_count=count, launched_at=then, completed_at=then)
    day = then.date().isoformat()
    for start in range(0, count, CHUNK):
        leads, messages = [], []
        for i in range(start, min(count, start + CHUNK)):
            lead_id, message_pk = new_id("lead"), new_id("msg")
            leads.append({"id": lead_id, "campaign": earlier.id, "workspace": workspace.id,
                          "email": f"earlier{i}@example.com", "first_name": f"Earlier{i}",
                          "custom_fields": {}, "status": LeadStatus.COMPLETED, "current_step": 1,
                          "last_sent_at": then, "finished_at": then, "created_at": then})
            messages.append({"id": message_pk, "lead": lead_id, "campaign": earlier.id,
                             "step": 1, "status": MessageStatus.SENT, "message_id": f"<{message_pk}@bench>",
                             "subject": "Hello", "local_day": day, "sent_at": then})
        with db.atomic():
            Lead.insert_many(leads).as_rowcount().execute()
            Message.insert_many(messages).as_rowcount().execute()
