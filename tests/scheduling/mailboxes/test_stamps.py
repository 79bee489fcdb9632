"""The stamp of a campaign that sends from mailboxes waits for them, and no longer.

After a pass, a campaign whose every mailbox is inside its gap is stamped at the
earliest gap end, and one whose every mailbox is at its cap at the earliest local
midnight among them; a mailbox resumed or raised through the API brings its campaigns'
visit forward to the next pass. Real SMTP servers (aiosmtpd with STARTTLS and AUTH), a
frozen clock.
"""
import datetime as dt

import pytest

from app import database
from app.models import Campaign
from tests.conftest import BASE as CAMPAIGNS
from tests.mailboxes.conftest import BASE, PASSWORD, TWO_STEPS, leads, stored
from tests.sending.conftest import ALWAYS

ALWAYS_100 = {"daily_limit": 100}


def stamp_of(campaign_id):
    with database.connection():
        return Campaign.get_by_id(campaign_id).next_send_at


def sent_from(smtp_server):
    return [m["from"] for m in smtp_server.handler.messages]


def test_inside_their_gaps_the_campaign_waits_for_the_earliest_gap_end(
        mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", min_gap_seconds=60, random_gap_seconds=30)
    bob = mailbox("bob@acme.test", min_gap_seconds=600, random_gap_seconds=0)
    campaign_id = start([ada, bob], leads=leads(6), settings=ALWAYS_100)
    assert dispatcher.run_once().sent == 2  # one mail each, then each waits its gap
    ada_free, bob_free = stored(ada).next_send_at, stored(bob).next_send_at
    assert frozen.now() + dt.timedelta(seconds=60) <= ada_free < bob_free

    assert stamp_of(campaign_id) == ada_free  # not now, not midnight, not Bob's
    frozen.advance(seconds=(ada_free - frozen.now()).total_seconds() - 1)
    assert dispatcher.run_once().sent == 0
    frozen.advance(seconds=1)
    assert dispatcher.run_once().sent == 1
    assert sent_from(smtp_server)[-1] == "ada@acme.test"
    # Ada waits her gap again; Bob's end is now the earlier one or Ada's new one is.
    assert stamp_of(campaign_id) == min(stored(ada).next_send_at, bob_free)


def test_at_their_caps_the_campaign_waits_for_the_earliest_local_midnight(
        mailbox, start, dispatcher, smtp_server, frozen):
    # Monday 10:00 UTC: 19:00 in Tokyo (its Tuesday at 15:00 UTC), 05:00 in New York
    # (its Tuesday at 05:00 UTC), and UTC's own Tuesday at 00:00.
    tokyo = mailbox("ada@acme.test", timezone="Asia/Tokyo", daily_limit=40,
                    warmup={"enabled": True, "start": 2, "increment": 1})
    mailbox("bob@acme.test", timezone="America/New_York", daily_limit=1)
    mailbox("carol@acme.test", timezone="UTC", daily_limit=1)
    campaign_id = start([tokyo, *_others()], leads=leads(12), settings=ALWAYS_100)
    assert dispatcher.run_once().sent == 4  # 2 (warm-up's first day) + 1 + 1

    assert stamp_of(campaign_id) == dt.datetime(2026, 11, 30, 15, 0)  # Tokyo's midnight
    frozen.advance(hours=4, minutes=59)
    assert dispatcher.run_once().sent == 0
    frozen.advance(minutes=1)
    assert dispatcher.run_once().sent == 3  # Tokyo's second day: the warm-up allows 3
    assert stamp_of(campaign_id) == dt.datetime(2026, 12, 1, 0, 0)  # now UTC's is first
    frozen.advance(hours=9)
    assert dispatcher.run_once().sent == 1
    assert sent_from(smtp_server)[-1] == "carol@acme.test"
    assert stamp_of(campaign_id) == dt.datetime(2026, 12, 1, 5, 0)  # then New York's


def test_a_mailbox_resumed_from_error_is_sent_from_at_the_next_pass(
        api, mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", password="wrong-" + PASSWORD)
    bob = mailbox("bob@acme.test", daily_limit=1)
    campaign_id = start([ada, bob], leads=leads(4), settings=ALWAYS_100)
    dispatcher.run_once()  # Ada cannot log in (error); Bob sends his one mail
    dispatcher.run_once()
    assert stored(ada).status == "error" and sent_from(smtp_server) == ["bob@acme.test"]
    assert stamp_of(campaign_id) == dt.datetime(2026, 12, 1, 0, 0)  # Bob's midnight

    frozen.advance(hours=1)
    fixed = api.patch(f"{BASE}/{ada}", json={"smtp": {"password": PASSWORD}})
    assert fixed.status_code == 200, fixed.json
    assert stamp_of(campaign_id) == dt.datetime(2026, 12, 1, 0, 0)  # still in error
    resumed = api.patch(f"{BASE}/{ada}", json={"status": "active"})
    assert resumed.status_code == 200, resumed.json
    assert stamp_of(campaign_id) <= frozen.now()
    assert dispatcher.run_once().sent == 3
    assert sent_from(smtp_server)[1:] == ["ada@acme.test"] * 3


def test_a_campaign_left_with_no_active_mailbox_waits_for_a_resume(
        api, mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", password="wrong-" + PASSWORD)
    campaign_id = start([ada], leads=leads(2), settings=ALWAYS_100)
    assert dispatcher.run_once().waiting == 2
    dispatcher.run_once()
    assert stamp_of(campaign_id) is None  # nothing can send: not visited at all

    frozen.advance(days=3)
    resumed = api.patch(f"{BASE}/{ada}", json={"smtp": {"password": PASSWORD},
                                               "status": "active"})
    assert resumed.status_code == 200, resumed.json
    assert stamp_of(campaign_id) == frozen.now()
    assert dispatcher.run_once().sent == 2


@pytest.mark.parametrize("fields, raise_it, more", [
    ({"daily_limit": 1}, {"daily_limit": 3}, 2),
    ({"daily_limit": 10, "warmup": {"enabled": True, "start": 1, "increment": 1}},
     {"warmup": {"enabled": False}}, 4),
], ids=["daily_limit", "warmup_off"])
def test_a_mailbox_given_a_higher_cap_is_sent_from_at_the_next_pass(
        api, mailbox, start, dispatcher, smtp_server, frozen, fields, raise_it, more):
    ada = mailbox("ada@acme.test", **fields)
    campaign_id = start([ada], leads=leads(5), settings=ALWAYS_100)
    assert dispatcher.run_once().sent == 1
    assert stamp_of(campaign_id) == dt.datetime(2026, 12, 1, 0, 0)

    frozen.advance(hours=2)
    assert dispatcher.run_once().sent == 0
    raised = api.patch(f"{BASE}/{ada}", json=raise_it)
    assert raised.status_code == 200, raised.json
    assert stamp_of(campaign_id) <= frozen.now()
    assert dispatcher.run_once().sent == more


def _others():
    from app.models import Mailbox
    with database.connection():
        return [m.id for m in Mailbox.select(Mailbox.id)
                .where(Mailbox.email != "ada@acme.test").order_by(Mailbox.email)]


def test_a_lead_mailed_through_the_relay_is_followed_up_from_a_mailbox_once_it_has_one(
        api, mailbox, create_campaign, dispatcher, relay, smtp_server, frozen):
    ada = mailbox("ada@acme.test", daily_limit=10)
    url = f"{CAMPAIGNS}/{create_campaign()['id']}"
    api.patch(url, json={"sequence": TWO_STEPS, "settings": {
        "schedule": ALWAYS, "from_email": "ops@acme.test", **ALWAYS_100}})
    api.post(f"{url}/leads", json={"leads": leads(1)})
    assert api.post(f"{url}/send", json={"action": "start"}).status_code == 200
    assert dispatcher.run_once().sent == 1  # step 1 through the relay
    assert api.post(f"{url}/send", json={"action": "pause"}).status_code == 200
    assert api.patch(url, json={"settings": {"mailboxes": [ada]}}).status_code == 200
    assert api.post(f"{url}/send", json={"action": "resume"}).status_code == 200

    frozen.advance(days=2)  # step 2 is due
    assert dispatcher.run_once().sent == 1
    assert sent_from(smtp_server) == ["ada@acme.test"]
    [lead] = api.get(f"{url}/leads").json["data"]
    assert lead["mailbox_id"] == ada and lead["current_step"] == 2


def test_a_lead_whose_mailbox_was_deleted_is_followed_up_from_another(
        api, mailbox, start, dispatcher, smtp_server, frozen):
    ada = mailbox("ada@acme.test", daily_limit=10)
    bob = mailbox("bob@acme.test", daily_limit=10)
    campaign_id = start([ada, bob], leads=leads(2), settings=ALWAYS_100, sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 2  # one each: the most room first
    assert sorted(sent_from(smtp_server)) == ["ada@acme.test", "bob@acme.test"]
    assert api.delete(f"{BASE}/{ada}").status_code == 200

    frozen.advance(days=2)  # step 2 is due for both
    assert dispatcher.run_once().sent == 2
    assert sent_from(smtp_server)[2:] == ["bob@acme.test", "bob@acme.test"]
    assert stamp_of(campaign_id) is None or stamp_of(campaign_id) > frozen.now()
