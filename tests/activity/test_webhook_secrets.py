"""Webhook signing secrets are kept encrypted under ENCRYPTION_KEYS, as mailbox
passwords are; one stored in the clear before that still signs until rekey seals it."""
import pytest
from cryptography.fernet import Fernet

from app import crypto, database
from app.models import Webhook, WebhookDelivery
from app.services import webhook_delivery, webhooks
from tests.config import TEST_ENCRYPTION_KEY

URL = "/api/v1/tenant/webhooks"


def stored(webhook_id):
    return Webhook.get_by_id(webhook_id).secret


@pytest.fixture
def keys():
    """Restores the test keys after a test changes them."""
    yield crypto.configure
    crypto.configure([TEST_ENCRYPTION_KEY])


def test_the_secret_is_stored_encrypted(create_webhook, receiver):
    created = create_webhook(receiver.url)
    token = stored(created["id"])
    assert created["secret"] not in token
    assert crypto.decrypt(token) == created["secret"]


def test_deliveries_are_signed_with_the_decrypted_secret(api, create_webhook, receiver):
    created = create_webhook(receiver.url)
    receiver.secret = created["secret"]
    assert api.post(f"{URL}/{created['id']}/test").status_code == 202
    webhook_delivery.deliver_due(allow_http=True, allow_private=True)
    [request] = receiver.requests
    assert request["verified"]["type"] == "webhook.test"


def test_a_secret_still_in_the_clear_signs_until_rekey_seals_it(api, app, create_webhook,
                                                                receiver):
    created = create_webhook(receiver.url)
    Webhook.update(secret=created["secret"]).where(Webhook.id == created["id"]).execute()
    receiver.secret = created["secret"]
    api.post(f"{URL}/{created['id']}/test")
    webhook_delivery.deliver_due(allow_http=True, allow_private=True)
    assert receiver.requests[-1]["verified"]["type"] == "webhook.test"

    result = app.test_cli_runner().invoke(args=["mailboxes", "rekey"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted: 1 webhook secrets" in result.output
    database.db.connect(reuse_if_open=True)
    assert crypto.decrypt(stored(created["id"])) == created["secret"]


def test_rekey_moves_secrets_to_the_first_key(create_webhook, receiver, keys):
    created = create_webhook(receiver.url)
    new_key = Fernet.generate_key().decode()
    keys([new_key, TEST_ENCRYPTION_KEY])
    assert webhooks.rekey_secrets() == 1
    keys([new_key])
    assert crypto.decrypt(stored(created["id"])) == created["secret"]


def test_without_encryption_keys_no_webhook_is_created(api, tenant, receiver, keys):
    keys([])
    response = api.post(URL, json={"workspace_slug": tenant.slug, "url": receiver.url})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "encryption_keys_missing"
    assert Webhook.select().count() == 0


def test_a_secret_under_a_lost_key_fails_its_own_delivery(api, create_webhook, receiver,
                                                         keys):
    created = create_webhook(receiver.url)
    api.post(f"{URL}/{created['id']}/test")
    keys([Fernet.generate_key().decode()])
    webhook_delivery.deliver_due(allow_http=True, allow_private=True)
    assert receiver.requests == []
    [delivery] = WebhookDelivery.select()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "ENCRYPTION_KEYS" in delivery.last_error
