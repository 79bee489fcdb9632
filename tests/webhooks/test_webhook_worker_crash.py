"""A worker killed with SIGKILL between its claim and the POST loses no event; two
workers never take the same delivery."""
import os
import signal
import subprocess
import sys
import threading

import pytest

from app import clock, database
from app.config import ROOT
from app.models import WebhookDelivery
from app.services import webhook_delivery as delivery
from app.services import webhooks
from tests.conftest import ON_POSTGRES

# Claims every due delivery, says so, then hangs as if stuck in the POST.
WORKER = """
import sys, time
from app import database
from app.services import webhook_delivery
database.bind(sys.argv[1])
with database.connection():
    print(len(webhook_delivery.claim_due()), flush=True)
time.sleep(600)
"""


def emit(tenant):
    with database.transaction():
        return webhooks.emit(tenant.workspace.id, "lead.replied", {"workspace_slug": tenant.slug})


@pytest.mark.slow
def test_a_worker_killed_after_its_claim_loses_no_event(db_url, tenant, receiver,
                                                        create_webhook):
    receiver.secret = create_webhook(receiver.url)["secret"]
    event = emit(tenant)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, db_url], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "1"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        worker.stdout.close()

    assert delivery.deliver_due(allow_http=True, allow_private=True)["delivered"] == 0
    clock.freeze(WebhookDelivery.get().next_attempt_at)  # the dead worker's lease ends
    assert delivery.deliver_due(allow_http=True, allow_private=True)["delivered"] == 1

    [got] = receiver.requests
    assert got["headers"]["webhook-id"] == event.id
    assert got["verified"]["type"] == "lead.replied"


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="row locks need Postgres (TEST_DATABASE_URL)")
def test_a_delivery_another_worker_holds_is_skipped(tenant, create_webhook):
    create_webhook("https://crm.example.com/hooks")
    emit(tenant)
    held, release, seen = threading.Event(), threading.Event(), []

    def other_worker():
        # peewee keeps a connection per thread: this one is a second worker.
        with database.connection(), database.transaction():
            seen.append(len(list(database.skip_locked(WebhookDelivery.select()))))
            held.set()
            release.wait(10)

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        assert delivery.claim_due() == []
    finally:
        release.set()
        thread.join()
    assert seen == [1]
    assert len(delivery.claim_due()) == 1
