"""The events a campaign's life emits, written with each change and delivered by the
worker's pass to a real receiver that verifies every signature."""
import json

import pytest

from app import clock, database
from app.mail.compose import Composer
from app.mail.mailers import SMTPMailer
from app.models import Lead, Message, WebhookDelivery, WebhookEvent
from app.worker import Dispatcher, reaper
from tests.conftest import BASE
from tests.sending.conftest import act, html_of, links_in, path_of
from tests.sending.procs import Dispatchers, dispatcher_env
from tests.sending.test_inbound import reply
from tests.webhooks.conftest import URL, Receiver

GRACE = "grace@example.com"
ALAN = "alan@example.com"
ONE_STEP = [{"subject": "Hello {{firstName}}", "body": "Hi {{firstName}}"}]
LEADS = [{"email": GRACE, "first_name": "Grace"}, {"email": ALAN, "first_name": "Alan"}]


@pytest.fixture
def frozen():
    clock.freeze(clock.now())  # near real time: receivers check the signed timestamp


@pytest.fixture
def worker(app, smtp_server):
    """A dispatcher that may deliver webhooks to the loopback receiver."""
    return Dispatcher(mailer=SMTPMailer(host="127.0.0.1", port=smtp_server.port, timeout=5),
                      composer=Composer(base_url=app.config["BASE_URL"],
                                        secret=app.config["SECRET_KEY"]),
                      batch=50, webhook_allow_http=True, webhook_allow_private=True)


@pytest.fixture
def hook(receiver, create_webhook):
    created = create_webhook(receiver.url)
    receiver.secret = created["secret"]
    return created


def events():
    """Every event written, oldest first: (type, data)."""
    return [(e.type, e.payload["data"]) for e in
            WebhookEvent.select().order_by(WebhookEvent.created_at, WebhookEvent.id)]


def types():
    return [t for t, _ in events()]


def received(receiver):
    """What reached the receiver: (webhook-id, type, data), each verified."""
    out = []
    for request in receiver.requests:
        assert isinstance(request["verified"], dict), request["verified"]
        body = json.loads(request["body"])
        out.append((request["headers"]["webhook-id"], body["type"], body["data"]))
    return out


def ids_of(api, campaign_id):
    leads = api.get(f"{BASE}/{campaign_id}/leads?limit=100").json["data"]
    return {lead["email"]: lead["id"] for lead in leads}


def test_a_campaigns_life_emits_each_event_once_and_delivers_it(
        api, client, app, tenant, hook, receiver, launch, worker, smtp_server, inbound,
        frozen):
    campaign_id = launch(leads=LEADS, sequence=ONE_STEP, settings={"track_opens": True})
    assert types() == ["campaign.started"]
    lead_ids = ids_of(api, campaign_id)
    clock.advance(seconds=1)

    assert worker.run_once().sent == 2
    messages = {m.lead_id: m.id for m in Message.select()}
    clock.advance(seconds=1)
    [pixel] = links_in(html_of(smtp_server.to(ALAN)[0]), "/t/o/")
    assert client.get(path_of(pixel, app.config["BASE_URL"])).status_code == 200
    assert client.get(path_of(pixel, app.config["BASE_URL"])).status_code == 200  # again
    clock.advance(seconds=1)
    grace_mail = smtp_server.to(GRACE)[0]
    assert inbound(reply(in_reply_to=grace_mail["Message-ID"])).status_code == 200
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["status"] == "completed"
    worker.run_once()  # delivers what the open and the reply emitted

    base = {"workspace_slug": tenant.slug, "campaign_id": campaign_id}

    def lead(email, **extra):
        return {**base, "lead_id": lead_ids[email], "email": email, **extra}

    def mail(email):
        return lead(email, message_id=messages[lead_ids[email]], step=1)
    written = events()
    by_type = {}
    for event_type, data in written:
        by_type.setdefault(event_type, []).append(data)
    assert sorted(by_type) == sorted(["campaign.started", "message.sent", "lead.completed",
                                      "campaign.completed", "lead.opened", "lead.replied"])
    assert by_type["campaign.started"] == [base]
    key = lambda data: data["email"]  # noqa: E731 - one pass mails both, in either order
    assert sorted(by_type["message.sent"], key=key) == [mail(ALAN), mail(GRACE)]
    assert sorted(by_type["lead.completed"], key=key) == [lead(ALAN, step=1),
                                                          lead(GRACE, step=1)]
    assert by_type["campaign.completed"] == [base]
    assert by_type["lead.opened"] == [mail(ALAN)]  # the second open emits nothing
    assert by_type["lead.replied"] == [mail(GRACE)]
    # The phases in order (by timestamp: within one pass the clock stands still):
    # start, the pass, the open, the reply.
    phase = {"campaign.started": 0, "message.sent": 1, "lead.completed": 1,
             "campaign.completed": 1, "lead.opened": 2, "lead.replied": 3}
    assert [phase[t] for t, _ in written] == sorted(phase[t] for t, _ in written)

    stored = {e.id: (e.type, e.payload["data"]) for e in WebhookEvent.select()}
    got = received(receiver)
    assert len(got) == len(stored) == 8
    assert {webhook_id: (t, data) for webhook_id, t, data in got} == stored
    assert {d.status for d in WebhookDelivery.select()} == {"delivered"}
    # The campaign's activity log holds the same events, under the same ids.
    logged = api.get(f"{BASE}/{campaign_id}/events", query_string={"limit": 100}).json
    assert {e["id"]: e["type"] for e in logged["data"]} == {
        event_id: event_type for event_id, (event_type, _) in stored.items()}


def test_a_repeated_start_emits_nothing(api, hook, launch, frozen):
    campaign_id = launch(leads=LEADS, sequence=ONE_STEP)
    assert act(api, campaign_id, "start")["status"] == "active"  # a no-op
    assert types() == ["campaign.started"]


def test_pause_and_resume_emit_paused_and_resumed(api, tenant, hook, launch, frozen):
    campaign_id = launch(leads=LEADS, sequence=ONE_STEP)
    act(api, campaign_id, "pause")
    act(api, campaign_id, "pause")  # a no-op
    act(api, campaign_id, "resume")
    base = {"workspace_slug": tenant.slug, "campaign_id": campaign_id}
    assert events() == [("campaign.started", base), ("campaign.paused", base),
                        ("campaign.resumed", base)]


def test_no_event_is_written_without_a_webhook(api, launch, worker, frozen):
    campaign_id = launch(leads=LEADS, sequence=ONE_STEP)
    assert worker.run_once().sent == 2
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["status"] == "completed"
    assert events() == []


def test_another_tenants_webhook_receives_none_of_the_events(
        api, client, other_tenant, hook, receiver, launch, worker, frozen):
    theirs = Receiver()
    try:
        response = client.post(URL, headers=other_tenant.headers,
                               json={"workspace_slug": other_tenant.slug, "url": theirs.url})
        assert response.status_code == 201, response.json
        launch(leads=LEADS, sequence=ONE_STEP)
        assert worker.run_once().sent == 2
        assert len(received(receiver)) == 6  # started, 2 sent, 2 completed, completed
        assert theirs.requests == []
        assert (WebhookDelivery.select().where(
            WebhookDelivery.webhook == response.json["data"]["id"]).count()) == 0
    finally:
        theirs.close()


def test_a_failing_webhook_delivery_stops_no_mail(api, create_webhook, launch, worker,
                                                  frozen):
    # Nothing listens there: every attempt fails, and the mail still goes out.
    create_webhook("http://127.0.0.1:9/hook")
    launch(leads=LEADS, sequence=ONE_STEP)
    assert worker.run_once().sent == 2
    assert {d.status for d in WebhookDelivery.select()} == {"pending"}
    assert {d.attempts for d in WebhookDelivery.select()} == {1}


def test_dispatcher_run_once_delivers_due_webhooks(app, api, hook, receiver, launch,
                                                   smtp_server, tmp_path):
    launch(leads=[LEADS[0]], sequence=ONE_STEP)
    env = {**dispatcher_env(app, smtp_port=smtp_server.port, var_dir=tmp_path),
           "WEBHOOK_ALLOW_HTTP": "true", "WEBHOOK_ALLOW_PRIVATE": "true"}
    with Dispatchers(env, tmp_path) as started:
        process = started.start("--once")
        assert process.wait(timeout=60) == 0, process.output()
        assert process.summary()["sent"] == 1
    got = received(receiver)
    assert sorted(t for _, t, _ in got) == ["campaign.completed", "campaign.started",
                                            "lead.completed", "message.sent"]
    assert {d.status for d in WebhookDelivery.select()} == {"delivered"}


def test_a_refused_recipient_emits_message_bounced(api, tenant, hook, launch, worker,
                                                   smtp_server, frozen):
    smtp_server.rcpt_replies[ALAN] = "550 5.1.1 User unknown"
    campaign_id = launch(leads=LEADS, sequence=ONE_STEP)
    worker.run_once()
    [(bounced)] = [data for t, data in events() if t == "message.bounced"]
    assert bounced["email"] == ALAN and bounced["step"] == 1
    assert bounced["lead_id"] == ids_of(api, campaign_id)[ALAN]
    assert bounced["message_id"] == Message.get(Message.lead == bounced["lead_id"]).id
    assert "550" in bounced["error"]
    assert [data["email"] for t, data in events() if t == "lead.completed"] == [GRACE]
    assert types().count("campaign.completed") == 1


def test_the_last_temporary_failure_emits_message_failed_once(api, hook, launch, worker,
                                                               smtp_server, frozen):
    smtp_server.rcpt_replies[GRACE] = "451 4.7.1 Try again later"
    campaign_id = launch(leads=[LEADS[0]], sequence=ONE_STEP)
    outcomes = []
    for _ in range(5):
        summary = worker.run_once()
        outcomes.append((summary.retried, summary.failed))
        clock.advance(hours=2)
    assert outcomes == [(1, 0)] * 4 + [(0, 1)]
    [failed] = [data for t, data in events() if t == "message.failed"]
    assert failed["email"] == GRACE and failed["lead_id"] == ids_of(api, campaign_id)[GRACE]
    assert failed["step"] == 1 and failed["message_id"].startswith("msg_")
    assert "451" in failed["error"]
    assert "message.sent" not in types() and "lead.completed" not in types()
    assert types().count("campaign.completed") == 1


def test_an_unsubscribe_emits_lead_unsubscribed_for_each_lead_it_stops(
        api, app, client, tenant, hook, launch, worker, smtp_server, frozen):
    mailed = launch(leads=[LEADS[0]], sequence=ONE_STEP + ONE_STEP,
                    settings={"track_opens": True})
    draft = launch(leads=[LEADS[0]], sequence=ONE_STEP, start=False)
    assert worker.run_once().sent == 1
    url = smtp_server.to(GRACE)[0]["List-Unsubscribe"].strip("<>")
    response = client.post(path_of(url, app.config["BASE_URL"]),
                           data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert client.post(path_of(url, app.config["BASE_URL"]),
                       data={"List-Unsubscribe": "One-Click"}).status_code == 200  # again
    gone = sorted((data for t, data in events() if t == "lead.unsubscribed"),
                  key=lambda data: data["campaign_id"] == draft)
    assert gone == [
        {"workspace_slug": tenant.slug, "campaign_id": mailed, "email": GRACE,
         "lead_id": ids_of(api, mailed)[GRACE]},
        {"workspace_slug": tenant.slug, "campaign_id": draft, "email": GRACE,
         "lead_id": ids_of(api, draft)[GRACE]}]


def test_a_message_that_cannot_be_composed_emits_message_failed(api, hook, launch, worker,
                                                                frozen):
    campaign_id = launch(leads=[LEADS[0]], sequence=ONE_STEP)
    # Written around the API, which refuses it: a line separator in a header's text.
    Lead.update(first_name="Eve\u2028Bcc: all@example.com").where(
        Lead.campaign == campaign_id).execute()
    assert worker.run_once().failed == 1
    [failed] = [data for t, data in events() if t == "message.failed"]
    assert failed["lead_id"] == ids_of(api, campaign_id)[GRACE] and failed["step"] == 1
    assert failed["message_id"] == Message.get(Message.lead == failed["lead_id"]).id
    assert failed["error"]


def test_a_send_the_reaper_settled_is_sent_once_and_completes_its_lead_once(
        api, tenant, hook, launch, worker, smtp_server, frozen):
    campaign_id = launch(leads=[LEADS[0]], sequence=ONE_STEP)

    def stalled(envelope):
        # While the server keeps the dispatcher waiting for its answer, the leases run
        # out and the reaper settles the send: unconfirmed, and the lead moves on.
        with database.connection():
            clock.advance(seconds=worker.sending_seconds + 60)
            reaper.reap()
    smtp_server.on_data = stalled
    assert worker.run_once().sent == 1
    [message] = Message.select()
    assert message.status == "sent"  # the late answer is still recorded on the row
    lead_id = ids_of(api, campaign_id)[GRACE]
    mail = {"workspace_slug": tenant.slug, "campaign_id": campaign_id, "lead_id": lead_id,
            "email": GRACE, "step": 1}
    base = {"workspace_slug": tenant.slug, "campaign_id": campaign_id}
    assert sorted((t, data) for t, data in events() if t != "campaign.started") == [
        ("campaign.completed", base), ("lead.completed", mail),
        ("message.sent", {**mail, "message_id": message.id})]


class Failing(Dispatcher):
    """A pass whose webhook delivery breaks, recording that the IMAP poll still ran."""

    polled = 0

    def deliver_webhooks(self):
        raise RuntimeError("webhook delivery broke")

    def poll_mailboxes(self):
        self.polled += 1
        raise RuntimeError("IMAP polling broke")


def test_a_broken_webhook_delivery_or_poll_stops_neither_the_mail_nor_the_pass(
        app, api, hook, launch, smtp_server, frozen):
    failing = Failing(mailer=SMTPMailer(host="127.0.0.1", port=smtp_server.port, timeout=5),
                      composer=Composer(base_url=app.config["BASE_URL"],
                                        secret=app.config["SECRET_KEY"]))
    launch(leads=LEADS, sequence=ONE_STEP)
    assert failing.run_once().sent == 2
    assert failing.polled == 1
    assert failing.run_once().sent == 0
    assert failing.polled == 2


def test_from_config_passes_the_webhook_settings(make_app):
    app = make_app(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE=False)
    built = Dispatcher.from_config(app.config)
    assert (built.webhooks, built.webhook_allow_http, built.webhook_allow_private,
            built.imap) == (True, True, False, True)


def test_from_config_passes_the_mailbox_settings(make_app):
    app = make_app(MAILBOX_ALLOW_PRIVATE=True, MAX_CONTENT_LENGTH=4096)
    built = Dispatcher.from_config(app.config)
    assert (built.mailbox_allow_private, built.max_message_bytes) == (True, 4096)
    assert Dispatcher.from_config(make_app().config).mailbox_allow_private is False
