"""Operator commands: flask db / tenants / workspaces / keys."""
import re

import pytest

from app import config, create_app, database
from app.models import ApiKey, Tenant, Workspace
from tests.config import TestConfig
from tests.conftest import BASE, _release, empty_database

SECRET = re.compile(r"^sk_live_[A-Za-z0-9_-]{20,}$")
MIGRATION_NAMES = sorted(p.stem for p in (config.ROOT / "migrations").glob("[0-9][0-9][0-9][0-9]_*.py"))


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=list(args))
    return invoke


def last_line(result):
    return result.stdout.rstrip("\n").splitlines()[-1]


def lists(client, secret, slug):
    return client.get(f"{BASE}?workspace={slug}", headers={"Authorization": f"Bearer {secret}"})


def count(model):
    with database.connection():
        return model.select().count()


# ---- tenants create -----------------------------------------------------------------------

def test_tenants_create_prints_the_key_alone_on_the_last_line(cli):
    result = cli("tenants", "create", "Initech", "--workspace", "initech")
    assert result.exit_code == 0, result.output
    assert SECRET.match(last_line(result))


def test_tenants_create_key_authenticates_for_the_new_workspace(cli, client):
    result = cli("tenants", "create", "Initech", "--workspace", "initech")
    secret = last_line(result)

    response = lists(client, secret, "initech")

    assert response.status_code == 200
    assert response.json["pagination"]["total"] == 0


def test_tenants_create_stores_tenant_workspace_and_hashed_key(cli):
    result = cli("tenants", "create", "Initech", "--workspace", "initech")
    secret = last_line(result)
    with database.connection():
        tenant = Tenant.get(Tenant.name == "Initech")
        workspace = Workspace.get(Workspace.slug == "initech")
        [key] = ApiKey.select().where(ApiKey.tenant == tenant)
    assert workspace.tenant_id == tenant.id
    assert key.key_hash != secret
    assert result.stdout.count(secret) == 1


def test_tenants_create_with_a_taken_slug_fails_and_creates_nothing(cli, tenant):
    tenants_before = count(Tenant)

    result = cli("tenants", "create", "Copycat", "--workspace", tenant.slug)

    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert not SECRET.search(result.stdout)
    assert count(Tenant) == tenants_before


@pytest.mark.parametrize("slug", ["Upper", "-dash", "dash-", "sp ace", ""])
def test_tenants_create_with_a_bad_slug_fails(cli, slug):
    result = cli("tenants", "create", "Initech", "--workspace", slug)
    assert result.exit_code == 1
    assert result.stderr.startswith("error:")
    assert count(Tenant) == 0


def test_tenants_create_needs_a_workspace(cli):
    result = cli("tenants", "create", "Initech")
    assert result.exit_code == 2
    assert count(Tenant) == 0


# ---- workspaces create --------------------------------------------------------------------

@pytest.mark.parametrize("by", ["name", "id"])
def test_workspaces_create_adds_a_workspace_to_the_tenant(cli, client, tenant, by):
    ref = tenant.model.name if by == "name" else tenant.model.id

    result = cli("workspaces", "create", "acme-labs", "--tenant", ref)

    assert result.exit_code == 0, result.output
    assert "acme-labs" in result.stdout
    created = client.post(BASE, headers=tenant.headers,
                          json={"workspace_slug": "acme-labs", "name": "Lab campaign"})
    assert created.status_code == 201
    assert lists(client, tenant.secret, "acme-labs").json["pagination"]["total"] == 1


def test_workspaces_create_is_invisible_to_other_tenants(cli, client, tenant, other_tenant):
    cli("workspaces", "create", "acme-labs", "--tenant", tenant.model.id)
    response = lists(client, other_tenant.secret, "acme-labs")
    assert response.status_code == 404


def test_workspaces_create_for_an_unknown_tenant_fails(cli):
    result = cli("workspaces", "create", "orphan", "--tenant", "ten_nobody")
    assert result.exit_code == 1
    assert "ten_nobody" in result.stderr
    assert count(Workspace) == 0


def test_workspaces_create_with_a_taken_slug_fails(cli, tenant, other_tenant):
    result = cli("workspaces", "create", other_tenant.slug, "--tenant", tenant.model.id)
    assert result.exit_code == 1
    with database.connection():
        assert Workspace.get(Workspace.slug == other_tenant.slug).tenant_id == \
            other_tenant.model.id


# ---- keys ----------------------------------------------------------------------------------

def test_keys_create_prints_a_working_key_last(cli, client, tenant):
    result = cli("keys", "create", "--tenant", tenant.model.id, "--name", "ci")
    assert result.exit_code == 0, result.output
    secret = last_line(result)
    assert SECRET.match(secret)
    assert secret != tenant.secret
    assert lists(client, secret, tenant.slug).status_code == 200


def test_keys_create_for_an_unknown_tenant_fails(cli):
    keys_before = count(ApiKey)
    result = cli("keys", "create", "--tenant", "ten_nobody")
    assert result.exit_code == 1
    assert count(ApiKey) == keys_before


def test_keys_list_shows_every_key_and_never_a_secret(cli, tenant):
    created = cli("keys", "create", "--tenant", tenant.model.id, "--name", "ci")
    second_secret = last_line(created)

    result = cli("keys", "list", "--tenant", tenant.model.id)

    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2
    assert tenant.key.id in result.stdout
    assert tenant.secret[:12] in result.stdout
    assert tenant.secret not in result.output
    assert second_secret not in result.output
    assert "ci" in result.stdout


def test_keys_list_shows_revoked_keys_as_revoked(cli, tenant):
    cli("keys", "revoke", tenant.key.id)
    result = cli("keys", "list", "--tenant", tenant.model.name)
    [line] = result.stdout.splitlines()
    assert tenant.key.id in line
    assert "revoked" in line


def test_keys_list_is_per_tenant(cli, tenant, other_tenant):
    result = cli("keys", "list", "--tenant", tenant.model.id)
    assert tenant.key.id in result.stdout
    assert other_tenant.key.id not in result.stdout


def test_keys_revoke_refuses_the_very_next_request(cli, client, tenant):
    assert lists(client, tenant.secret, tenant.slug).status_code == 200

    result = cli("keys", "revoke", tenant.key.id)

    assert result.exit_code == 0, result.output
    assert tenant.key.id in result.stdout
    response = lists(client, tenant.secret, tenant.slug)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_keys_revoke_twice_is_harmless(cli, tenant):
    cli("keys", "revoke", tenant.key.id)
    result = cli("keys", "revoke", tenant.key.id)
    assert result.exit_code == 0


def test_keys_revoke_of_an_unknown_key_fails(cli):
    result = cli("keys", "revoke", "key_nothing")
    assert result.exit_code == 1
    assert "key_nothing" in result.stderr


# ---- db --------------------------------------------------------------------------------------

def test_db_status_lists_every_migration_as_applied(cli):
    result = cli("db", "status")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"[x] {name}" for name in MIGRATION_NAMES]


def test_db_upgrade_on_a_migrated_database_changes_nothing(cli):
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "database is up to date."
    assert cli("db", "status").exit_code == 0


@pytest.fixture
def fresh_cli(tmp_path):
    """The CLI of an app whose database has no tables yet."""
    with empty_database("campaigns_cli", tmp_path) as url:
        runner = create_app(TestConfig(DATABASE_URL=url)).test_cli_runner()
        yield lambda *args: runner.invoke(args=list(args))
        _release(database.db.obj)


def test_db_status_on_a_fresh_database_lists_pending_and_exits_1(fresh_cli):
    result = fresh_cli("db", "status")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"[ ] {name}" for name in MIGRATION_NAMES]


def test_db_upgrade_on_a_fresh_database_applies_everything_once(fresh_cli):
    first = fresh_cli("db", "upgrade")
    second = fresh_cli("db", "upgrade")

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [f"applied: {name}" for name in MIGRATION_NAMES]
    assert second.exit_code == 0, second.output
    assert second.stdout.strip() == "database is up to date."
    assert fresh_cli("db", "status").exit_code == 0


def test_tenants_create_works_right_after_db_upgrade(fresh_cli):
    fresh_cli("db", "upgrade")
    result = fresh_cli("tenants", "create", "Initech", "--workspace", "initech")
    assert result.exit_code == 0, result.output
    assert SECRET.match(last_line(result))


def old_and_fresh_idempotency_records():
    import datetime as dt

    from app import clock
    from app.models import IdempotencyRecord
    now = clock.now()
    with database.connection():
        for key, age in (("old", dt.timedelta(hours=25)), ("fresh", dt.timedelta(hours=23))):
            IdempotencyRecord.create(scope="ten_x", key=key, fingerprint="f", status=201,
                                     body="{}", created_at=now - age)


def test_db_purge_deletes_only_idempotency_records_past_24_hours(cli):
    from app.models import IdempotencyRecord
    old_and_fresh_idempotency_records()
    result = cli("db", "purge")
    assert result.exit_code == 0, result.output
    assert "purged: 1" in result.output
    with database.connection():
        assert [r.key for r in IdempotencyRecord.select()] == ["fresh"]


def test_a_running_dispatcher_purges_expired_idempotency_records(app):
    """Between passes, without a cron job: `dispatcher run` gives run_forever the purge."""
    from app.cli import dispatcher_chores
    from app.models import IdempotencyRecord
    from app.worker import Dispatcher
    old_and_fresh_idempotency_records()
    dispatcher = Dispatcher.from_config({**app.config, "MAIL_BACKEND": "file"})
    ran = []

    def then_stop(chore):
        def run():
            chore()
            ran.append(chore.__name__)
            dispatcher.stop()
        run.__name__ = chore.__name__
        return run

    chores = [(every, then_stop(chore)) for every, chore in dispatcher_chores()]
    with app.app_context():
        dispatcher.run_forever(interval=0.01, chores=chores)
    assert ran == ["purge_idempotency_records"]
    with database.connection():
        assert [r.key for r in IdempotencyRecord.select()] == ["fresh"]
