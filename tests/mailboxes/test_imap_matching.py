"""Mail read from a mailbox over IMAP (a real Dovecot) answers or bounces only the mail
sent from that mailbox; replies, bounces and automatic replies are read once, across a
restart and two workers.

Sending through mailboxes is not this file's subject: the mail goes out through the
loopback relay, and each message row is then given the mailbox it stands for.
"""
import threading

import pytest
from imapclient import IMAPClient

from app import clock, database
from app.models import Lead, Message
from app.services import imap_poll
from app.worker.loop import classify
from tests.conftest import _release
from tests.mailboxes.conftest import PASSWORD, USER
from tests.sending.conftest import campaign, dispatcher, frozen, launch, lead_of, smtp_server
from tests.sending.test_inbound import INBOUND, SECRET, reply

__all__ = ["dispatcher", "frozen", "launch", "smtp_server"]  # fixtures used here

GRACE, ALAN, HEDY = "grace@example.com", "alan@example.com", "hedy@example.com"
TWO_STEPS = [{"subject": "Hello {{firstName}}", "body": "Hi {{firstName}}"},
             {"subject": "", "body": "Following up", "delay": 1, "delay_unit": "days"}]
IGNORED = "ignored"


# ---- what lands in the mailboxes ------------------------------------------------------

def answer(original, kind):
    """What ``original`` (the bytes the relay received) gets back, as a real server or
    person writes it: "reply", "auto_reply" or "bounce" (a Postfix-style DSN)."""
    sent = _parsed(original)
    lead = sent["To"].addresses[0].addr_spec
    if kind == "bounce":
        return postfix_dsn(original, lead)
    extra = "Auto-Submitted: auto-replied\r\n" if kind == "auto_reply" else ""
    subject = "Out of office" if kind == "auto_reply" else f"Re: {sent['Subject']}"
    return reply(in_reply_to=sent["Message-ID"], subject=subject, extra=extra).replace(
        GRACE, lead).encode()


def postfix_dsn(original, recipient):
    """A delivery status notification as Postfix writes one (RFC 3464), the returned
    message whole."""
    boundary = "5F2C41A0E3.1764500000/mx.example.com"
    head = (
        "Return-Path: <>\r\n"
        "Received: by mx.example.com (Postfix) id 5F2C41A0E3; Mon, 30 Nov 2026 11:00:02 "
        "+0000 (UTC)\r\n"
        "Date: Mon, 30 Nov 2026 11:00:02 +0000 (UTC)\r\n"
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "To: ada@acme.test\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n"
        "Message-Id: <20261130110002.5F2C41A0E3@mx.example.com>\r\n"
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.example.com.\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        f"<{recipient}>: host mx.example.com[192.0.2.25] said: 550 5.1.1\r\n"
        f"    <{recipient}>: Recipient address rejected: User unknown\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n"
        "X-Postfix-Queue-ID: 5F2C41A0E3\r\n"
        "X-Postfix-Sender: rfc822; ada@acme.test\r\n"
        "Arrival-Date: Mon, 30 Nov 2026 11:00:01 +0000 (UTC)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Remote-MTA: dns; mx.example.com\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected:\r\n"
        "    User unknown\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Undelivered Message\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n")
    return head.encode() + original + f"\r\n--{boundary}--\r\n".encode()


def _parsed(raw):
    from email import message_from_bytes, policy
    return message_from_bytes(raw, policy=policy.default)


def append(port, folder, raw):
    with IMAPClient("127.0.0.1", port=port, ssl=False) as client:
        client.login(USER, PASSWORD)
        client.append(folder, raw)


# ---- the mailboxes and the mail sent from them ----------------------------------------

@pytest.fixture
def mailboxes(create_mailbox, dovecot):
    """Two mailboxes of one workspace, X and Y, each reading its own Dovecot folder:
    {"X": id, "Y": id}."""
    def one(name):
        imap = {"host": "127.0.0.1", "port": dovecot, "security": "none",
                "username": USER, "password": PASSWORD, "folder": name}
        with IMAPClient("127.0.0.1", port=dovecot, ssl=False) as client:
            client.login(USER, PASSWORD)
            client.create_folder(name)
        return create_mailbox(email=f"{name.lower()}@acme.test", imap=imap)["id"]
    return {"X": one("X"), "Y": one("Y")}


@pytest.fixture
def sent(launch, dispatcher, smtp_server, frozen):
    """Mail step 1 to ``leads`` ({email: mailbox id or None for the relay}); returns
    (campaign id, {email: the bytes the server received})."""
    def make(leads):
        campaign_id = launch(leads=[{"email": e, "first_name": "Grace"} for e in leads],
                             sequence=TWO_STEPS)
        dispatcher.imap = False  # the mailboxes are polled by the test itself
        assert dispatcher.run_once().sent == len(leads)
        with database.connection():
            for address, mailbox_id in leads.items():
                lead = Lead.get((Lead.campaign == campaign_id) & (Lead.email == address))
                Message.update(mailbox=mailbox_id).where(Message.lead == lead.id).execute()
        received = {m["to"][0]: m["data"] for m in smtp_server.messages}
        return campaign_id, received
    return make


class Recorder:
    """classify, recording (mailbox id, outcome) of each message handed on."""

    def __init__(self):
        self.outcomes = []
        self.lock = threading.Lock()

    def __call__(self, raw, mailbox):
        outcome = classify(raw, mailbox)
        with self.lock:
            self.outcomes.append((mailbox.id, outcome["outcome"]))
        return outcome


def poll(recorder):
    clock.advance(hours=1)  # past every mailbox's next_poll_at
    with database.connection():
        return imap_poll.poll_due(recorder, timeout=5, concurrency=1, allow_private=True)


# ---- one mailbox, one sender ------------------------------------------------------------

@pytest.mark.parametrize("kind", ["reply", "auto_reply", "bounce"])
def test_an_answer_in_one_mailbox_to_mail_sent_from_another_is_ignored(
        api, dovecot, mailboxes, sent, kind):
    campaign_id, received = sent({GRACE: mailboxes["Y"]})
    append(dovecot, "X", answer(received[GRACE], kind))
    recorder = Recorder()

    assert poll(recorder) == 1

    assert recorder.outcomes == [(mailboxes["X"], IGNORED)]
    lead = lead_of(api, campaign_id, GRACE)
    assert (lead["status"], lead["replied_at"]) == ("in_progress", None)
    stats = campaign(api, campaign_id)["stats"]
    assert (stats["replied"], stats["bounced"]) == (0, 0)


@pytest.mark.parametrize("kind, status, counter", [
    ("reply", "replied", "replied"), ("auto_reply", "in_progress", None),
    ("bounce", "bounced", "bounced")])
def test_an_answer_in_the_mailbox_the_mail_was_sent_from_counts(
        api, dovecot, mailboxes, sent, kind, status, counter):
    campaign_id, received = sent({GRACE: mailboxes["Y"]})
    append(dovecot, "Y", answer(received[GRACE], kind))
    recorder = Recorder()

    assert poll(recorder) == 1

    assert recorder.outcomes == [(mailboxes["Y"], kind)]
    assert lead_of(api, campaign_id, GRACE)["status"] == status
    stats = campaign(api, campaign_id)["stats"]
    assert {name: stats[name] for name in ("replied", "bounced")} == {
        name: int(name == counter) for name in ("replied", "bounced")}


def test_relay_mail_answered_in_a_mailbox_is_ignored_and_counts_on_the_inbound_route(
        api, app, client, dovecot, mailboxes, sent):
    campaign_id, received = sent({GRACE: None})
    raw = answer(received[GRACE], "reply")
    append(dovecot, "X", raw)
    recorder = Recorder()

    assert poll(recorder) == 1
    assert recorder.outcomes == [(mailboxes["X"], IGNORED)]
    assert lead_of(api, campaign_id, GRACE)["status"] == "in_progress"

    # The operator's inbound route matches it as it always has.
    app.config["INBOUND_SECRET"] = SECRET
    response = client.post(INBOUND, data=raw, content_type="message/rfc822",
                           headers={"Authorization": f"Bearer {SECRET}"})
    lead = lead_of(api, campaign_id, GRACE)
    assert response.json["data"] == {"outcome": "reply", "lead_id": lead["id"]}
    assert lead["status"] == "replied"


def test_the_same_answers_in_two_mailboxes_count_only_in_the_one_they_were_sent_from(
        api, dovecot, mailboxes, sent):
    # The same message answered in both mailboxes: only the one it was sent from counts.
    campaign_id, received = sent({GRACE: mailboxes["X"], ALAN: mailboxes["Y"]})
    for folder in ("X", "Y"):
        append(dovecot, folder, answer(received[GRACE], "reply"))
        append(dovecot, folder, answer(received[ALAN], "bounce"))
    recorder = Recorder()

    assert poll(recorder) == 4

    assert sorted(recorder.outcomes) == sorted([
        (mailboxes["X"], "reply"), (mailboxes["X"], IGNORED),
        (mailboxes["Y"], IGNORED), (mailboxes["Y"], "bounce")])
    assert lead_of(api, campaign_id, GRACE)["status"] == "replied"
    assert lead_of(api, campaign_id, ALAN)["status"] == "bounced"


# ---- read once ----------------------------------------------------------------------------

def test_replies_bounces_and_auto_replies_are_read_once_across_two_workers_and_a_restart(
        api, dovecot, mailboxes, sent, make_app):
    campaign_id, received = sent({GRACE: mailboxes["X"], ALAN: mailboxes["X"],
                                  HEDY: mailboxes["Y"]})
    append(dovecot, "X", answer(received[GRACE], "reply"))
    append(dovecot, "X", answer(received[ALAN], "bounce"))
    append(dovecot, "Y", answer(received[HEDY], "auto_reply"))
    recorder = Recorder()
    clock.advance(hours=1)
    together = threading.Barrier(2)
    counts = []

    def worker():
        with database.connection():
            together.wait()
            counts.append(imap_poll.poll_due(recorder, timeout=5, concurrency=1,
                                             allow_private=True))
    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    assert sum(counts) == 3
    assert sorted(recorder.outcomes) == sorted([
        (mailboxes["X"], "reply"), (mailboxes["X"], "bounce"),
        (mailboxes["Y"], "auto_reply")])

    _release(database.db.obj)
    make_app()  # a new process: only the database remembers
    with database.connection():
        assert poll(recorder) == 0
        append(dovecot, "Y", answer(received[HEDY], "reply"))
        assert poll(recorder) == 1
    assert recorder.outcomes[3:] == [(mailboxes["Y"], "reply")]
    stats = campaign(api, campaign_id)["stats"]
    assert (stats["replied"], stats["bounced"]) == (2, 1)
    assert lead_of(api, campaign_id, GRACE)["status"] == "replied"
    assert lead_of(api, campaign_id, ALAN)["status"] == "bounced"
    assert lead_of(api, campaign_id, HEDY)["status"] == "replied"

