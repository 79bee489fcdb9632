"""A pass with nothing to send reads the due campaigns once, however many idle ones
there are: night in their time zone, their daily limit reached, or nothing due yet."""
import datetime as dt

from app import clock
from app.lifecycle import CampaignStatus, MessageStatus
from app.models import Campaign, Lead, Message, default_settings, new_id
from tests.conftest import SENDER, count_queries

NIGHT = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
ALWAYS = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
          "start": "00:00", "end": "24:00"}
STEP = {"step": 1, "type": "email", "subject": "Hello", "body": "Hi", "delay": 0,
        "delay_unit": "days"}


def idle_campaigns(tenant, n, now):
    """``n`` active campaigns, each with a due lead it cannot send now: a third at night,
    a third at their daily limit, a third with their lead due tomorrow. Stamped due now,
    as a migration leaves them."""
    for i in range(n):
        settings = {**default_settings(), **SENDER, "daily_limit": 1}
        due = now
        if i % 3 == 0:
            settings.update(timezone="Asia/Tokyo", schedule=NIGHT)  # 19:00 there
        else:
            settings.update(schedule=ALWAYS)
        if i % 3 == 2:
            due = now + dt.timedelta(days=1)
        campaign = Campaign.create(tenant=tenant.model, workspace=tenant.workspace,
                                   name=f"idle {i}", status=CampaignStatus.ACTIVE,
                                   sequence=[STEP], settings=settings, launched_at=now,
                                   next_send_at=now)
        lead = Lead.create(campaign=campaign, workspace=tenant.workspace,
                           email=f"lead{i}@example.com", next_send_at=due)
        if i % 3 == 1:
            # Today's one mail went out already (another lead, since deleted).
            Message.create(lead=lead, campaign=campaign, step=1, status=MessageStatus.SENT,
                           message_id=f"<{new_id('msg')}@test>",
                           local_day=now.date().isoformat(), created_at=now)


def queries_of_a_pass(dispatcher):
    with count_queries() as queries:
        summary = dispatcher.run_once()
    assert summary.sent == 0
    return list(queries)


def idle_pass(tenant, dispatcher, n):
    """The queries of the second pass over ``n`` idle campaigns (the first stamps them)."""
    now = clock.now()
    Campaign.delete().where(Campaign.workspace == tenant.workspace.id).execute()
    idle_campaigns(tenant, n, now)
    first = queries_of_a_pass(dispatcher)
    stamps = [c.next_send_at for c in Campaign.select(Campaign.next_send_at)]
    assert len(stamps) == n and all(stamp > now for stamp in stamps), stamps
    return first, queries_of_a_pass(dispatcher)


def test_an_idle_pass_costs_the_same_queries_at_10_and_200_campaigns(tenant, dispatcher,
                                                                     frozen):
    dispatcher.webhooks = dispatcher.imap = False
    first_10, idle_10 = idle_pass(tenant, dispatcher, 10)
    first_200, idle_200 = idle_pass(tenant, dispatcher, 200)

    # The first pass visits every campaign (each stamped once) ...
    assert len(first_200) > len(first_10) + 190
    # ... the next ones visit none: the same queries, whatever the number idle.
    assert len(idle_10) == len(idle_200), (idle_10, idle_200)
    assert [q for q in idle_200 if 'FROM "campaign"' in q and "next_send_at" in q], idle_200
    assert not [q for q in idle_200 if 'FROM "lead"' in q], idle_200


def test_an_idle_pass_with_the_background_work_does_not_grow_either(tenant, dispatcher,
                                                                    frozen):
    _, idle_10 = idle_pass(tenant, dispatcher, 10)
    _, idle_200 = idle_pass(tenant, dispatcher, 200)
    assert len(idle_10) == len(idle_200), (idle_10, idle_200)
