"""IMAP polling against a real Dovecot: each message read once, across restarts and
workers; a failing login is kept on the mailbox and never raises."""
import threading
from email.message import EmailMessage

from imapclient import IMAPClient

from app import clock, database
from app.services import imap_poll
from tests.conftest import _release
from tests.mailboxes.conftest import BASE, PASSWORD, USER, mailbox_body, stored


def _append(port, subject, folder="INBOX"):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "grace@example.com", USER, subject
    message.set_content("Thanks, interested.")
    with IMAPClient("127.0.0.1", port=port, ssl=False) as client:
        client.login(USER, PASSWORD)
        if not client.folder_exists(folder):
            client.create_folder(folder)
        client.append(folder, message.as_bytes())


def _mailbox(api, tenant, port, password=PASSWORD, folder="INBOX"):
    imap = {"host": "127.0.0.1", "port": port, "security": "none", "username": USER,
            "password": password, "folder": folder}
    response = api.post(BASE, json=mailbox_body(tenant.slug, imap=imap))
    assert response.status_code == 201, response.json
    return response.json["data"]["id"]


class Seen:
    def __init__(self):
        self.subjects = []

    def __call__(self, raw, mailbox):
        from email import message_from_bytes
        self.subjects.append((mailbox.id, message_from_bytes(raw)["Subject"]))


def _poll(classify):
    clock.advance(hours=1)  # past next_poll_at
    with database.connection():
        return imap_poll.poll_due(classify, timeout=5, concurrency=1, allow_private=True)


def test_two_messages_are_handed_on_once_each(api, tenant, dovecot):
    mailbox_id = _mailbox(api, tenant, dovecot)
    _append(dovecot, "one")
    _append(dovecot, "two")
    seen = Seen()

    assert _poll(seen) == 2
    assert seen.subjects == [(mailbox_id, "one"), (mailbox_id, "two")]

    assert _poll(seen) == 0
    assert len(seen.subjects) == 2
    mailbox = stored(mailbox_id)
    assert mailbox.last_uid == 2 and mailbox.imap_error is None and mailbox.lease_token is None


def test_a_restart_reads_nothing_again(api, tenant, dovecot, make_app):
    _mailbox(api, tenant, dovecot)
    _append(dovecot, "one")
    assert _poll(Seen()) == 1

    _release(database.db.obj)
    make_app()  # a new process: only the database remembers
    with database.connection():
        _append(dovecot, "two")
        seen = Seen()
        assert _poll(seen) == 1
    assert [s for _, s in seen.subjects] == ["two"]


def test_uidvalidity_change_reads_from_the_start(api, tenant, dovecot):
    mailbox_id = _mailbox(api, tenant, dovecot, folder="Replies")
    _append(dovecot, "one", folder="Replies")
    _append(dovecot, "two", folder="Replies")
    assert _poll(Seen()) == 2
    with IMAPClient("127.0.0.1", port=dovecot, ssl=False) as client:
        client.login(USER, PASSWORD)
        client.delete_folder("Replies")  # recreated: new UIDVALIDITY, UIDs from 1 again
    _append(dovecot, "three", folder="Replies")
    seen = Seen()

    assert _poll(seen) == 1
    assert [s for _, s in seen.subjects] == ["three"]
    assert stored(mailbox_id).last_uid == 1


def test_a_second_worker_gets_nothing_while_the_lease_is_held(api, tenant, dovecot):
    _mailbox(api, tenant, dovecot)
    _append(dovecot, "one")
    other = Seen()
    results = []

    def first(raw, mailbox):
        # While this worker holds the lease, another worker polls: it must get nothing.
        def second_worker():
            with database.connection():
                results.append(imap_poll.poll_due(other, timeout=5, concurrency=1,
                                                    allow_private=True))
        thread = threading.Thread(target=second_worker)
        thread.start()
        thread.join()

    assert _poll(first) == 1
    assert results == [0] and other.subjects == []


def test_wrong_password_sets_imap_error_and_backs_off(api, tenant, dovecot):
    mailbox_id = _mailbox(api, tenant, dovecot, password="wrong-" + PASSWORD)
    seen = Seen()

    assert _poll(seen) == 0
    mailbox = stored(mailbox_id)
    assert "refused the username or password" in mailbox.imap_error
    assert "wrong-" + PASSWORD not in mailbox.imap_error
    first_wait = mailbox.next_poll_at - clock.now()

    assert _poll(seen) == 0
    mailbox = stored(mailbox_id)
    assert mailbox.imap_failures == 2
    assert mailbox.next_poll_at - clock.now() > first_wait
    assert mailbox.lease_token is None and seen.subjects == []


def test_a_pool_of_two_polls_each_mailbox_once(api, tenant, dovecot):
    first = _mailbox(api, tenant, dovecot)
    body = mailbox_body(tenant.slug, email="grace@acme.test",
                        imap={"host": "127.0.0.1", "port": dovecot, "security": "none",
                              "username": USER, "password": PASSWORD})
    second = api.post(BASE, json=body).json["data"]["id"]
    _append(dovecot, "one")
    seen = Seen()

    clock.advance(hours=1)
    with database.connection():
        assert imap_poll.poll_due(seen, timeout=5, concurrency=2, allow_private=True) == 2
    assert sorted(m for m, _ in seen.subjects) == sorted([first, second])
