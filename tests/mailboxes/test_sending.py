"""Campaigns sending from tenants' mailboxes: each mailbox's own SMTP server (aiosmtpd
with AUTH after STARTTLS), its caps, its gaps and its login faults."""
import asyncio
import datetime as dt
import email
from collections import Counter
from email import policy
from types import SimpleNamespace

from app import database
from app.models import Lead, Mailbox, Message, Webhook, WebhookEvent
from app.worker import delivery
from tests.conftest import BASE as CAMPAIGNS
from tests.mailboxes.conftest import (
    BASE,
    ONE_STEP,
    PASSWORD,
    TWO_STEPS,
    leads,
    mailbox_body,
    sending_dispatcher,
    stored,
)
from tests.sending.conftest import ALWAYS


def received(smtp_server):
    """What the mailboxes' server took: [(envelope sender, recipient, parsed message)]."""
    return [(sender, to[0], email.message_from_bytes(data, policy=policy.default))
            for sender, to, data in smtp_server.handler.messages]


def senders(smtp_server):
    return Counter(sender for sender, _, _ in received(smtp_server))


def lead_row(campaign_id, address):
    with database.connection():
        return Lead.get((Lead.campaign == campaign_id) & (Lead.email == address))


# ---- rotation and stickiness ---------------------------------------------------------------

def test_new_leads_are_spread_over_the_mailboxes_by_room_left(
        mailbox, start, dispatcher, smtp_server, relay):
    mailbox("ada@acme.test", daily_limit=10)
    mailbox("bob@acme.test", daily_limit=10)
    campaign_id = start(_ids(), leads=leads(6))
    assert dispatcher.run_once().sent == 6
    assert senders(smtp_server) == {"ada@acme.test": 3, "bob@acme.test": 3}
    assert relay.messages == []
    for sender, to, msg in received(smtp_server):
        assert msg["From"].addresses[0].addr_spec == sender
        assert lead_row(campaign_id, to).mailbox_id == _id_of(sender)


def test_a_new_lead_goes_to_the_mailbox_with_the_most_room_today(
        mailbox, start, dispatcher, smtp_server):
    mailbox("ada@acme.test", daily_limit=10)
    mailbox("bob@acme.test", daily_limit=3)
    start(_ids(), leads=leads(5))
    assert dispatcher.run_once().sent == 5
    # Ada has 10, Bob 3: after five mails Ada still has more room than Bob.
    assert senders(smtp_server) == {"ada@acme.test": 5}


def test_a_lead_keeps_its_mailbox_and_its_thread_for_the_whole_sequence(
        mailbox, start, dispatcher, smtp_server, frozen):
    mailbox("ada@acme.test", daily_limit=10)
    mailbox("bob@acme.test", daily_limit=10)
    start(_ids(), leads=leads(4), sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 4
    first = {to: (sender, msg) for sender, to, msg in received(smtp_server)}
    # Tomorrow the room is even again: a new choice would be free to move them.
    frozen.advance(days=1)
    assert dispatcher.run_once().sent == 4
    second = {to: (sender, msg) for sender, to, msg in received(smtp_server)[4:]}
    assert set(second) == set(first)
    for to, (sender, msg) in second.items():
        assert sender == first[to][0]
        assert msg["From"].addresses[0].addr_spec == sender
        assert msg["In-Reply-To"] == first[to][1]["Message-ID"]
        assert sender.split("@")[1] in msg["Message-ID"]


def test_a_mailed_lead_waits_for_its_paused_mailbox_and_a_new_one_moves(
        api, mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", daily_limit=10)
    mailbox("bob@acme.test", daily_limit=10)
    campaign_id = start(_ids(), leads=leads(2), sequence=TWO_STEPS)
    dispatcher.run_once()
    mailed_by_ada = [to for sender, to, _ in received(smtp_server) if sender == "ada@acme.test"]
    assert len(mailed_by_ada) == 1
    assert api.patch(f"{BASE}/{ada}", json={"status": "paused"}).status_code == 200
    add = api.post(f"{CAMPAIGNS}/{campaign_id}/leads", json={"leads": leads(2, "new")})
    assert add.status_code == 200, add.json
    frozen.advance(days=1)
    assert dispatcher.run_once().sent == 3  # Bob's follow-up and both new leads
    later = received(smtp_server)[2:]
    assert {sender for sender, _, _ in later} == {"bob@acme.test"}
    assert mailed_by_ada[0] not in [to for _, to, _ in later]
    lead = lead_row(campaign_id, mailed_by_ada[0])
    assert (lead.status, lead.current_step, lead.mailbox_id) == ("in_progress", 1, ada)

    assert api.patch(f"{BASE}/{ada}", json={"status": "active"}).status_code == 200
    assert dispatcher.run_once().sent == 1
    assert received(smtp_server)[-1][:2] == ("ada@acme.test", mailed_by_ada[0])


# ---- caps --------------------------------------------------------------------------------------

def test_a_mailboxs_cap_counts_its_mail_across_campaigns(
        api, mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", daily_limit=4)
    start([ada], leads=leads(3, "one"))
    start([ada], leads=leads(3, "two"))
    assert dispatcher.run_once().sent == 4
    assert dispatcher.run_once().sent == 0
    got = api.get(f"{BASE}/{ada}").json["data"]
    assert (got["sent_today"], got["limit_today"]) == (4, 4)
    frozen.advance(days=1)
    assert dispatcher.run_once().sent == 2
    assert len(smtp_server.handler.messages) == 6


def test_the_campaigns_own_daily_limit_holds_as_well(mailbox, start, dispatcher, smtp_server):
    ada = mailbox("ada@acme.test", daily_limit=50)
    start([ada], leads=leads(5), settings={"daily_limit": 2})
    assert dispatcher.run_once().sent == 2


def test_warmup_raises_the_cap_by_the_increment_each_local_day(
        mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", daily_limit=5,
                  warmup={"enabled": True, "start": 2, "increment": 1})
    start([ada], leads=leads(12))
    sent = []
    for _ in range(5):
        sent.append(dispatcher.run_once().sent)
        frozen.advance(days=1)
    assert sent == [2, 3, 4, 3, 0]  # min(5, 2 + 1 x day): 2, 3, 4, then 5 (3 left)


def test_the_cap_follows_the_mailboxs_time_zone(mailbox, start, dispatcher, smtp_server, frozen):
    # Monday 10:00 UTC is 19:00 in Tokyo: five hours later it is Tuesday there.
    ada = mailbox("ada@acme.test", daily_limit=1, timezone="Asia/Tokyo")
    start([ada], leads=leads(3))
    assert dispatcher.run_once().sent == 1
    frozen.advance(hours=4, minutes=59)
    assert dispatcher.run_once().sent == 0
    frozen.advance(minutes=1)
    assert dispatcher.run_once().sent == 1


# ---- pacing ------------------------------------------------------------------------------------

def test_two_mails_from_a_mailbox_are_at_least_the_minimum_gap_apart(
        mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", min_gap_seconds=60, random_gap_seconds=0)
    start([ada], leads=leads(3))
    assert dispatcher.run_once().sent == 1
    frozen.advance(seconds=59)
    assert dispatcher.run_once().sent == 0
    frozen.advance(seconds=1)
    assert dispatcher.run_once().sent == 1
    assert stored(ada).next_send_at == frozen.now() + dt.timedelta(seconds=60)


def test_the_random_part_of_the_gap_is_drawn_within_its_bound(
        mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", min_gap_seconds=60, random_gap_seconds=30)
    start([ada], leads=leads(8))
    gaps = []
    for _ in range(8):
        assert dispatcher.run_once().sent == 1
        gaps.append((stored(ada).next_send_at - frozen.now()).total_seconds())
        frozen.advance(seconds=90)
    assert all(60 <= gap <= 90 for gap in gaps), gaps
    assert len(set(gaps)) > 1, gaps  # drawn anew for each mail


def test_with_no_gap_a_mailbox_takes_a_batch_at_once(mailbox, start, dispatcher, smtp_server):
    ada = mailbox("ada@acme.test", daily_limit=20)
    start([ada], leads=leads(7))
    assert dispatcher.run_once().sent == 7


# ---- faults ------------------------------------------------------------------------------------

def test_a_refused_login_puts_the_mailbox_in_error_and_its_leads_wait(
        api, tenant, mailbox, start, dispatcher, smtp_server, caplog):
    bad = mailbox("ada@acme.test", password="wrong-" + PASSWORD)
    with database.connection():
        Webhook.create(tenant=tenant.model, workspace=tenant.workspace, secret="s" * 32,
                       url="https://hooks.example.com/in", events=["mailbox.error"])
    campaign_id = start([bad], leads=leads(2))
    summary = dispatcher.run_once()
    assert (summary.sent, summary.failed, summary.waiting) == (0, 0, 2)
    got = api.get(f"{BASE}/{bad}").json["data"]
    assert got["status"] == "error"
    assert "refused the username or password" in got["last_error"]
    assert got["sent_today"] == 0  # nothing went out: nothing counts
    for lead in api.get(f"{CAMPAIGNS}/{campaign_id}/leads").json["data"]:
        # Open, not failed, and not counted as an attempt of its own.
        assert lead["status"] == "in_progress" and lead["current_step"] == 0
        row = lead_row(campaign_id, lead["email"])
        assert row.attempts == 0 and row.next_send_at is not None
    with database.connection():
        [event] = WebhookEvent.select().where(WebhookEvent.type == "mailbox.error")
        assert event.payload["data"]["mailbox_id"] == bad
        assert event.payload["data"]["error"] == got["last_error"]
    assert dispatcher.run_once().waiting == 0  # in error: not tried again
    assert "wrong-" + PASSWORD not in caplog.text + got["last_error"]

    fixed = api.patch(f"{BASE}/{bad}", json={"smtp": {"password": PASSWORD},
                                             "status": "active"})
    assert fixed.status_code == 200, fixed.json
    assert dispatcher.run_once().sent == 2
    assert senders(smtp_server) == {"ada@acme.test": 2}


def test_the_other_mailboxes_carry_on_when_one_cannot_log_in(
        api, mailbox, start, dispatcher, smtp_server):
    mailbox("ada@acme.test", password="wrong-" + PASSWORD)
    mailbox("bob@acme.test", daily_limit=10)
    campaign_id = start(_ids(), leads=leads(4))
    summary = dispatcher.run_once()
    assert summary.sent == 4 and summary.waiting >= 1
    assert senders(smtp_server) == {"bob@acme.test": 4}
    assert {lead["status"] for lead in
            api.get(f"{CAMPAIGNS}/{campaign_id}/leads").json["data"]} == {"completed"}


def test_a_mailbox_on_loopback_is_refused_without_mailbox_allow_private(
        app, api, mailbox, start, smtp_server, relay):
    ada = mailbox("ada@acme.test")
    start([ada], leads=leads(1))
    strict = sending_dispatcher(app, relay.port, mailbox_allow_private=False)
    assert strict.run_once().waiting == 1
    got = api.get(f"{BASE}/{ada}").json["data"]
    assert got["status"] == "error" and "private or local" in got["last_error"]
    assert smtp_server.handler.messages == [] and relay.messages == []


def test_passwords_are_absent_from_answers_logs_and_the_database(
        api, tenant, mailbox, start, dispatcher, smtp_server, caplog):
    good = mailbox("ada@acme.test")
    bad = mailbox("bob@acme.test", password="wrong-" + PASSWORD)
    campaign_id = start([good, bad], leads=leads(4))
    caplog.set_level("DEBUG")
    dispatcher.run_once()
    answers = "".join(api.get(url).get_data(as_text=True) for url in (
        f"{BASE}/{good}", f"{BASE}/{bad}", f"{BASE}?workspace={tenant.slug}",
        f"{CAMPAIGNS}/{campaign_id}", f"{CAMPAIGNS}/{campaign_id}/leads"))
    assert "ada@acme.test" in answers and "error" in answers
    with database.connection():
        db = database.db.obj
        dump = "".join(str(row) for table in db.get_tables()
                       for row in db.execute_sql(f'SELECT * FROM "{table}"').fetchall())
    for text in (answers, caplog.text, dump):
        assert PASSWORD not in text


# ---- start and settings ------------------------------------------------------------------------

def test_start_needs_an_active_mailbox_or_a_relay_sender(api, mailbox, create_campaign):
    ada = mailbox("ada@acme.test")
    assert api.patch(f"{BASE}/{ada}", json={"status": "paused"}).status_code == 200
    campaign_id = create_campaign()["id"]
    url = f"{CAMPAIGNS}/{campaign_id}"
    api.patch(url, json={"sequence": ONE_STEP, "settings": {"mailboxes": [ada]}})
    api.post(f"{url}/leads", json={"leads": leads(1)})
    response = api.post(f"{url}/send", json={"action": "start"})
    assert response.status_code == 409
    assert response.json["error"]["details"]["missing"] == ["no_active_mailbox"]
    [blocked] = [b for b in api.get(url).json["data"]["blocked_actions"]
                 if b["action"] == "start"]
    assert "settings.mailboxes" in blocked["reason"]
    assert api.patch(f"{BASE}/{ada}", json={"status": "active"}).status_code == 200
    assert api.post(f"{url}/send", json={"action": "start"}).status_code == 200


def test_a_mailbox_of_another_workspace_is_a_422_like_one_that_does_not_exist(
        client, api, mailbox, create_campaign, other_tenant):
    ours = mailbox("ada@acme.test")
    body = mailbox_body(other_tenant.slug, email="eve@globex.test")
    theirs = client.post(BASE, json=body, headers=other_tenant.headers).json["data"]["id"]
    url = f"{CAMPAIGNS}/{create_campaign()['id']}"
    answers = {}
    for mailbox_id in (theirs, "mbx_01jd3v0m4h8x3q2w9e7r6t5y4u"):
        response = api.patch(url, json={"settings": {"mailboxes": [ours, mailbox_id]}})
        assert response.status_code == 422
        answers[mailbox_id] = response.json["error"]["details"]["fields"]["settings"]
    assert answers[theirs] == {"mailboxes": [f"No mailbox '{theirs}' in this workspace."]}
    assert answers["mbx_01jd3v0m4h8x3q2w9e7r6t5y4u"] == {
        "mailboxes": ["No mailbox 'mbx_01jd3v0m4h8x3q2w9e7r6t5y4u' in this workspace."]}
    assert api.get(url).json["data"]["settings"]["mailboxes"] == []
    response = api.patch(url, json={"settings": {"mailboxes": [ours]}})
    assert response.json["data"]["settings"]["mailboxes"] == [ours]


def test_a_mailbox_listed_twice_is_a_422(api, mailbox, create_campaign):
    ada = mailbox("ada@acme.test")
    url = f"{CAMPAIGNS}/{create_campaign()['id']}"
    response = api.patch(url, json={"settings": {"mailboxes": [ada, ada]}})
    assert response.status_code == 422


def test_the_relay_is_used_without_mailboxes(api, mailbox, create_campaign, dispatcher,
                                             smtp_server, relay):
    mailbox("ada@acme.test")
    url = f"{CAMPAIGNS}/{create_campaign()['id']}"
    api.patch(url, json={"sequence": ONE_STEP, "settings": {
        "schedule": ALWAYS, "from_email": "ops@acme.test"}})
    api.post(f"{url}/leads", json={"leads": leads(2)})
    assert api.post(f"{url}/send", json={"action": "start"}).status_code == 200
    assert dispatcher.run_once().sent == 2
    assert [m["from"] for m in relay.messages] == ["ops@acme.test"] * 2
    assert smtp_server.handler.messages == []
    with database.connection():
        assert Message.select().where(Message.mailbox.is_null(False)).count() == 0
        assert Lead.select().where(Lead.mailbox.is_null(False)).count() == 0


# ---- helpers -----------------------------------------------------------------------------------

def _ids():
    with database.connection():
        return [m.id for m in Mailbox.select(Mailbox.id).order_by(Mailbox.email)]


def _id_of(address):
    with database.connection():
        return Mailbox.get(Mailbox.email == address).id



def test_the_openapi_document_describes_sending_from_mailboxes(client):
    document = client.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]
    for name in ("Settings", "SettingsOut"):
        assert "mailboxes" in schemas[name]["properties"], name
        assert schemas[name]["properties"]["mailboxes"]["description"]
    mailbox = schemas["Mailbox"]["properties"]
    assert "login" in mailbox["status"]["description"]
    assert "password" in mailbox["last_error"]["description"]
    operations = {op["operationId"]: op for path, item in document["paths"].items()
                  if path.startswith(BASE) for op in item.values() if "operationId" in op}
    assert set(operations) >= {"listMailboxes", "createMailbox", "getMailbox",
                               "updateMailbox", "deleteMailbox", "testMailbox"}
    assert all(op.get("summary") for op in operations.values())


def test_a_started_campaign_cannot_be_left_without_a_sender(api, mailbox, start):
    ada = mailbox("ada@acme.test")
    url = f"{CAMPAIGNS}/{start([ada], leads=leads(1))}"
    response = api.patch(url, json={"settings": {"mailboxes": []}})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "sender_missing"
    assert api.get(url).json["data"]["settings"]["mailboxes"] == [ada]
    response = api.patch(url, json={"settings": {"mailboxes": [], "from_email": "o@acme.test"}})
    assert response.status_code == 200, response.json


def test_a_lead_shows_the_mailbox_it_is_mailed_from(api, mailbox, start, dispatcher,
                                                    smtp_server):
    ada = mailbox("ada@acme.test", daily_limit=10)
    campaign_id = start([ada], leads=leads(2))
    before = api.get(f"{CAMPAIGNS}/{campaign_id}/leads").json["data"]
    assert [lead["mailbox_id"] for lead in before] == [None, None]
    dispatcher.run_once()
    after = api.get(f"{CAMPAIGNS}/{campaign_id}/leads").json["data"]
    assert [lead["mailbox_id"] for lead in after] == [ada, ada]
    one = api.get(f"{CAMPAIGNS}/{campaign_id}/leads/{after[0]['id']}").json["data"]
    assert one["mailbox_id"] == ada


# ---- rounds: one mail per session on the wire at once ------------------------------------

def test_the_mailboxes_of_a_round_send_at_the_same_time(mailbox, start, dispatcher,
                                                       smtp_server):
    mailbox("ada@acme.test", daily_limit=10)
    mailbox("bob@acme.test", daily_limit=10)
    start(_ids(), leads=leads(2))
    sink, arrived, together = smtp_server.handler, [], []
    keep = sink.handle_DATA

    async def wait_for_the_other(server, session, envelope):
        # Each DATA waits for the other mailbox's: sent one after the other, the first
        # would wait alone until its timeout.
        arrived.append(envelope.mail_from)
        for _ in range(200):
            if len(arrived) == 2:
                together.append(envelope.mail_from)
                break
            await asyncio.sleep(0.01)
        return await keep(server, session, envelope)

    sink.handle_DATA = wait_for_the_other
    assert dispatcher.run_once().sent == 2
    assert sorted(together) == ["ada@acme.test", "bob@acme.test"]


def test_a_round_holds_one_claim_per_session_in_their_order():
    ada, bob = SimpleNamespace(id="mbx_ada"), SimpleNamespace(id="mbx_bob")
    claims = [SimpleNamespace(name=name, mailbox=box) for name, box in
              [("a1", ada), ("a2", ada), ("b1", bob), ("a3", ada), ("b2", bob)]]
    assert [[c.name for c in turn] for turn in delivery.rounds(claims)] == [
        ["a1", "b1"], ["a2", "b2"], ["a3"]]
    relayed = [SimpleNamespace(name=f"r{i}", mailbox=None) for i in range(3)]
    assert [[c.name for c in turn] for turn in delivery.rounds(relayed)] == [
        ["r0"], ["r1"], ["r2"]]
    many = [SimpleNamespace(name=i, mailbox=SimpleNamespace(id=i)) for i in range(40)]
    assert [len(turn) for turn in delivery.rounds(many)] == [16, 16, 8]
