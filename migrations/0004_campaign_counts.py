"""Per-workspace, per-status campaign counts, kept exact by triggers.

The list endpoint's total is read here, so it costs the same at 10 campaigns or
1,000,000. Triggers (not application code) keep it, so bulk loads, cascades and any
future write path stay exact. Existing campaigns are counted once, here.
"""
from peewee import *


def up(migrator, db):
    class CampaignCount(Model):
        workspace_id = CharField(max_length=40)
        status = CharField(max_length=20)
        n = IntegerField(default=0)
        class Meta:
            database = db
            table_name = 'campaign_count'
            primary_key = CompositeKey('workspace_id', 'status')
    db.create_tables([CampaignCount])

    db.execute_sql(
        "INSERT INTO campaign_count (workspace_id, status, n) "
        "SELECT workspace_id, status, count(*) FROM campaign GROUP BY workspace_id, status")

    if isinstance(db, PostgresqlDatabase):
        for statement in POSTGRES:
            db.execute_sql(statement)
    else:
        for statement in SQLITE:
            db.execute_sql(statement)


def down(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("DROP TRIGGER IF EXISTS campaign_count_rows ON campaign")
        db.execute_sql("DROP TRIGGER IF EXISTS campaign_count_moves ON campaign")
        db.execute_sql("DROP FUNCTION IF EXISTS campaign_count_sync()")
    else:
        for name in ("campaign_count_insert", "campaign_count_delete", "campaign_count_update"):
            db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    migrator.migrate(migrator.drop_table('campaign_count'))


_ADD_NEW = (
    "INSERT INTO campaign_count (workspace_id, status, n) VALUES (NEW.workspace_id, NEW.status, 1) "
    "ON CONFLICT (workspace_id, status) DO UPDATE SET n = campaign_count.n + 1")
_DROP_OLD = (
    "UPDATE campaign_count SET n = n - 1 "
    "WHERE workspace_id = OLD.workspace_id AND status = OLD.status")

SQLITE = [
    f"CREATE TRIGGER campaign_count_insert AFTER INSERT ON campaign BEGIN {_ADD_NEW}; END",
    f"CREATE TRIGGER campaign_count_delete AFTER DELETE ON campaign BEGIN {_DROP_OLD}; END",
    "CREATE TRIGGER campaign_count_update AFTER UPDATE OF status, workspace_id ON campaign "
    "WHEN OLD.status IS NOT NEW.status OR OLD.workspace_id IS NOT NEW.workspace_id "
    f"BEGIN {_DROP_OLD}; {_ADD_NEW}; END",
]

POSTGRES = [
    "CREATE FUNCTION campaign_count_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_DROP_OLD}; END IF; "
    f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {_ADD_NEW}; END IF; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER campaign_count_rows AFTER INSERT OR DELETE ON campaign "
    "FOR EACH ROW EXECUTE FUNCTION campaign_count_sync()",
    "CREATE TRIGGER campaign_count_moves AFTER UPDATE OF status, workspace_id ON campaign "
    "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status "
    "OR OLD.workspace_id IS DISTINCT FROM NEW.workspace_id) "
    "EXECUTE FUNCTION campaign_count_sync()",
]
