"""POST /test against real servers, and `mailboxes rekey`."""
import logging

from cryptography.fernet import Fernet

from app import create_app, crypto, database
from tests.config import TestConfig
from tests.conftest import _release
from tests.mailboxes.conftest import BASE, PASSWORD, USER, mailbox_body, stored


def _smtp(server, **extra):
    return {"host": "127.0.0.1", "port": server.port, "security": "starttls",
            "username": USER, "password": PASSWORD, **extra}


def test_good_password_logs_in_after_starttls(api, tenant, smtp_server):
    mailbox = api.post(BASE, json=mailbox_body(tenant.slug, smtp=_smtp(smtp_server))).json["data"]

    response = api.post(f"{BASE}/{mailbox['id']}/test")

    assert response.status_code == 200, response.json
    assert response.json["data"] == {"smtp": {"ok": True, "error": None}, "imap": None}


def test_bad_password_is_ok_false_with_a_sentence(api, tenant, smtp_server, caplog):
    caplog.set_level(logging.DEBUG, logger="app")
    body = mailbox_body(tenant.slug, smtp=_smtp(smtp_server, password="wrong-" + PASSWORD))
    mailbox = api.post(BASE, json=body).json["data"]

    response = api.post(f"{BASE}/{mailbox['id']}/test")

    assert response.status_code == 200
    smtp = response.json["data"]["smtp"]
    assert smtp["ok"] is False
    assert "refused the username or password" in smtp["error"]
    assert smtp["error"].endswith(".")
    assert "wrong-" + PASSWORD not in response.get_data(as_text=True)
    assert "wrong-" + PASSWORD not in caplog.text


def test_auth_without_starttls_is_refused_with_a_reason(api, tenant, smtp_server):
    body = mailbox_body(tenant.slug, smtp=_smtp(smtp_server, security="none"))
    mailbox = api.post(BASE, json=body).json["data"]

    smtp = api.post(f"{BASE}/{mailbox['id']}/test").json["data"]["smtp"]

    assert smtp["ok"] is False and smtp["error"]


def test_nothing_listening_is_ok_false(api, tenant):
    from tests.mailboxes.conftest import free_port
    body = mailbox_body(tenant.slug, smtp={"host": "127.0.0.1", "port": free_port()})
    mailbox = api.post(BASE, json=body).json["data"]

    smtp = api.post(f"{BASE}/{mailbox['id']}/test").json["data"]["smtp"]

    assert smtp == {"ok": False, "error": smtp["error"]}
    assert "refused the connection" in smtp["error"]


def test_rekey_moves_every_password_to_the_first_key(db_url, tenant):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    _release(database.db.obj)
    with_a = create_app(TestConfig(DATABASE_URL=db_url, ENCRYPTION_KEYS=[key_a]))
    client = with_a.test_client()
    body = mailbox_body(tenant.slug)
    with database.connection():
        created = client.post(BASE, json=body, headers=tenant.headers)
    assert created.status_code == 201
    _release(database.db.obj)

    with_both = create_app(TestConfig(DATABASE_URL=db_url, ENCRYPTION_KEYS=[key_b, key_a]))
    result = with_both.test_cli_runner().invoke(args=["mailboxes", "rekey"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted: 1 passwords" in result.output
    _release(database.db.obj)

    create_app(TestConfig(DATABASE_URL=db_url, ENCRYPTION_KEYS=[key_b]))
    token = stored(created.json["data"]["id"]).smtp_password
    assert crypto.decrypt(token) == PASSWORD
    crypto.configure([key_a])
    try:
        crypto.decrypt(token)
    except crypto.UndecryptableSecret:
        pass
    else:
        raise AssertionError("key A alone still decrypts the rekeyed password")
