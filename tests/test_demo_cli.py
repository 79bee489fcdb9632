"""`flask tenants demo`, as `make run` runs it: the demo tenant named, one development key
kept in a file and printed again on every start, the inbound secret and BASE_URL shown."""
import re
import stat

import pytest

from app import database
from app.models import ApiKey, Tenant
from tests.conftest import BASE, _release

SECRET = re.compile(r"sk_live_[A-Za-z0-9_-]{20,}")


@pytest.fixture
def demo_app(make_app, tmp_path, request):
    """The app `make run` configures (its settings; a test may drop one by parametrizing)."""
    settings = {"VAR_DIR": str(tmp_path / "var"), "OUTBOX_DIR": str(tmp_path / "var" / "outbox"),
                "INBOUND_SECRET": "dev-inbound", "BASE_URL": "http://127.0.0.1:8765"}
    for name in getattr(request, "param", ()):
        settings.pop(name)
    app = make_app(**settings)
    with database.connection():
        yield app
    _release(database.db.obj)


@pytest.fixture
def demo(demo_app):
    runner = demo_app.test_cli_runner()

    def run(*args):
        result = runner.invoke(args=["tenants", "demo", "--workspace", "acme-corp", *args])
        assert result.exit_code == 0, result.output
        return result
    return run


@pytest.fixture
def key_file(tmp_path):
    return tmp_path / "var" / "demo_key"


def printed_key(result):
    [secret] = SECRET.findall(result.stdout)
    return secret


def keys():
    with database.connection():
        return list(ApiKey.select().order_by(ApiKey.created_at))


def authenticates(client, secret):
    response = client.get(f"{BASE}?workspace=acme-corp",
                          headers={"Authorization": f"Bearer {secret}"})
    return response.status_code == 200


def test_the_first_start_creates_the_demo_tenant_and_keeps_its_key(demo, demo_app, key_file):
    result = demo()

    secret = printed_key(result)
    assert key_file.read_text().strip() == secret
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert authenticates(demo_app.test_client(), secret)
    with database.connection():
        assert [t.name for t in Tenant.select()] == ["Demo"]


def test_every_later_start_prints_the_same_key_and_mints_none(demo, key_file):
    first = printed_key(demo())
    again = demo()

    assert printed_key(again) == first
    assert "the same on every start" in again.stdout
    assert len(keys()) == 1
    assert key_file.read_text().strip() == first


def test_a_revoked_kept_key_is_replaced_and_the_file_rewritten(demo, demo_app, key_file):
    first = printed_key(demo())
    runner = demo_app.test_cli_runner()
    runner.invoke(args=["keys", "revoke", keys()[0].id])

    result = demo()

    second = printed_key(result)
    assert second != first
    assert "no longer works" in result.stdout
    assert key_file.read_text().strip() == second
    assert authenticates(demo_app.test_client(), second)
    assert not authenticates(demo_app.test_client(), first)


def test_a_kept_key_of_another_database_is_replaced(demo, key_file):
    key_file.parent.mkdir(parents=True)
    key_file.write_text("sk_live_from_a_database_since_deleted_0000000000\n")
    secret = printed_key(demo())
    assert secret != "sk_live_from_a_database_since_deleted_0000000000"
    assert key_file.read_text().strip() == secret


def test_a_key_file_elsewhere_can_be_named(demo, tmp_path, key_file):
    elsewhere = tmp_path / "elsewhere" / "key"
    secret = printed_key(demo("--key-file", str(elsewhere)))
    assert elsewhere.read_text().strip() == secret
    assert not key_file.exists()


def test_the_output_names_the_tenant_whose_keys_keys_list_shows(demo, demo_app):
    result = demo()

    assert 'Demo tenant "Demo"' in result.stdout
    listed = demo_app.test_cli_runner().invoke(args=["keys", "list", "--tenant", "Demo"])
    assert listed.exit_code == 0, listed.output
    assert keys()[0].id in listed.stdout


def test_the_output_gives_the_inbound_secret_and_the_base_url(demo):
    result = demo()
    assert "INBOUND_SECRET (POST /api/v1/inbound/email): dev-inbound" in result.stdout
    assert "BASE_URL (links in mail): http://127.0.0.1:8765" in result.stdout


@pytest.mark.parametrize("demo_app", [("INBOUND_SECRET",)], indirect=True)
def test_without_an_inbound_secret_none_is_printed(demo):
    assert "INBOUND_SECRET" not in demo().stdout
