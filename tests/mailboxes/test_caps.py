"""limit_today (warm-up) and sent_today (the mailbox's local day), under a frozen clock."""
import datetime as dt

from app import clock, database
from app.models import Lead, Message
from app.services import mailboxes
from tests.mailboxes.conftest import BASE, mailbox_body, stored


def _mailbox(api, tenant, **fields):
    response = api.post(BASE, json=mailbox_body(tenant.slug, **fields))
    assert response.status_code == 201, response.json
    return stored(response.json["data"]["id"])


def test_warmup_grows_by_increment_per_local_day_up_to_the_limit(api, tenant):
    clock.freeze(dt.datetime(2026, 3, 2, 12, 0))
    mailbox = _mailbox(api, tenant, daily_limit=22,
                       warmup={"enabled": True, "start": 10, "increment": 5})

    assert mailboxes.limit_today(mailbox, clock.now()) == 10
    assert mailboxes.limit_today(mailbox, dt.datetime(2026, 3, 3, 12, 0)) == 15
    assert mailboxes.limit_today(mailbox, dt.datetime(2026, 3, 4, 12, 0)) == 20
    assert mailboxes.limit_today(mailbox, dt.datetime(2026, 3, 5, 12, 0)) == 22


def test_without_warmup_the_limit_is_the_daily_limit(api, tenant):
    mailbox = _mailbox(api, tenant, daily_limit=30, warmup={"enabled": False})
    assert mailboxes.limit_today(mailbox, clock.now()) == 30


def test_sent_today_counts_the_mailboxs_local_day(api, tenant, ready_campaign):
    # Tokyo is UTC+9: its 3 March runs from 2 March 15:00 to 3 March 15:00 UTC.
    mailbox = _mailbox(api, tenant, timezone="Asia/Tokyo")
    campaign = ready_campaign()
    with database.connection():
        lead = Lead.get(Lead.campaign == campaign["id"])
        for step, at in enumerate([dt.datetime(2026, 3, 2, 14, 59), dt.datetime(2026, 3, 2, 15, 0),
                                   dt.datetime(2026, 3, 3, 14, 59)], start=1):
            Message.create(lead=lead, campaign=campaign["id"], step=step, mailbox=mailbox.id,
                           message_id=f"<m{step}@acme.test>", local_day="x", created_at=at)
        assert mailboxes.sent_today(mailbox, dt.datetime(2026, 3, 3, 1, 0)) == 2
        assert mailboxes.sent_today_many([mailbox], dt.datetime(2026, 3, 3, 1, 0)) == {
            mailbox.id: 2}
