"""A mailbox's cap under dispatchers running at once, for campaigns that share it: the
claim counts the mailbox's mail under the mailbox's row lock (Postgres)."""
import threading

import pytest

from app import database
from app.models import Mailbox, Message
from tests.conftest import ON_POSTGRES
from tests.mailboxes.conftest import leads, sending_dispatcher

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(
    not ON_POSTGRES, reason="row locks are Postgres' (SQLite serialises writers)")]


class Holder:
    """Holds the mailbox's row (FOR UPDATE) in a connection of its own until released."""

    def __init__(self, mailbox_id):
        self.held, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(mailbox_id,), daemon=True)
        self.thread.start()
        assert self.held.wait(10)

    def _hold(self, mailbox_id):
        with database.connection(), database.transaction():
            Mailbox.select().where(Mailbox.id == mailbox_id).for_update().execute()
            self.held.set()
            # Released by the test, not by its own timeout: nobody waited on the row.
            self.kept_waiting = not self.release.wait(10)

    def done(self):
        self.release.set()
        self.thread.join(10)


def test_a_claim_passes_by_a_mailbox_whose_row_another_transaction_holds(
        app, mailbox, start, relay, smtp_server, caplog):
    ada = mailbox("ada@acme.test", daily_limit=10)
    start([ada], leads=leads(2))
    holder = Holder(ada)
    try:
        assert sending_dispatcher(app, relay.port).run_once().sent == 0
    finally:
        holder.done()
    assert not holder.kept_waiting
    assert "dispatch failed" not in caplog.text
    assert sending_dispatcher(app, relay.port).run_once().sent == 2


def test_dispatchers_at_once_keep_a_shared_mailbox_within_its_cap(
        app, mailbox, start, relay, smtp_server):
    cap, workers = 7, 4
    ada = mailbox("ada@acme.test", daily_limit=cap)
    for n in range(workers):
        start([ada], leads=leads(5, f"c{n}-"))
    barrier = threading.Barrier(workers)
    sent, errors = [], []

    def run():
        dispatcher = sending_dispatcher(app, relay.port, batch=2)
        barrier.wait(10)
        try:
            sent.append(dispatcher.run_once().sent)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sum(sent) <= cap
    sent.append(sending_dispatcher(app, relay.port).run_once().sent)  # what was passed by
    assert sum(sent) == cap == len(smtp_server.handler.messages)
    with database.connection():
        assert Message.select().where(Message.mailbox == ada).count() == cap
