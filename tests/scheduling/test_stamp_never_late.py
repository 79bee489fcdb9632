"""A campaign's next_send_at is never later than mail it could send.

Random sequences of what happens to campaigns (leads added, start, pause, resume,
settings changed, lead deleted, replies, passes, failing servers, dispatchers dying
mid-claim and mid-send) under a frozen clock moved in steps. After each one, every
active campaign's stamp is checked against a brute-force reading of the rules: from
its earliest due lead on, no minute before the stamp is one at which it could send (in
its window, and not on a local day whose daily limit is used up).
"""
import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import clock
from app.errors import AppError
from app.lifecycle import COUNTED_MESSAGE_STATUSES, OPEN_LEAD_STATUSES, CampaignStatus
from app.models import Campaign, Lead, Message
from app.sending.schedule import in_window, local_day
from app.services import campaigns, leads, outcomes
from app.worker import claims as claiming
from tests.conftest import SENDER

STARTS = [
    dt.datetime(2026, 11, 30, 10, 0),   # a Monday morning in Europe
    dt.datetime(2026, 3, 8, 5, 30),     # New York's clocks go forward at 07:00 UTC
    dt.datetime(2026, 10, 25, 0, 30),   # Berlin's go back at 01:00 UTC
    dt.datetime(2026, 9, 5, 23, 0),     # Santiago skips its midnight at 04:00 UTC
    dt.datetime(2026, 12, 5, 22, 0),    # a Saturday night
]
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "America/Santiago",
         "Australia/Lord_Howe"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HOURS = [f"{h:02d}:{m}" for h in range(24) for m in ("00", "30")]

schedules = st.builds(
    lambda days, a, b: {"days": days, "start": min(a, b), "end": max(a, b)},
    st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True),
    st.sampled_from(HOURS), st.sampled_from([*HOURS, "24:00"])).filter(
    lambda s: s["start"] < s["end"])
setting_changes = st.fixed_dictionaries({}, optional={
    "schedule": schedules, "daily_limit": st.integers(1, 4),
    "timezone": st.sampled_from(ZONES)}).filter(bool)
steps = st.lists(st.fixed_dictionaries({
    "subject": st.just("Hello"), "body": st.just("Hi"),
    "delay": st.sampled_from([0, 1, 30, 90]),
    "delay_unit": st.sampled_from(["minutes", "hours"])}), min_size=1, max_size=3)

which = st.integers(0, 1)  # one of the two campaigns
# What happens to the campaigns and their leads (the sibling with mailboxes shares them).
campaign_operations = [
    st.tuples(st.just("advance"), st.sampled_from([1, 5, 30, 61, 240, 900, 1440, 3000])),
    st.tuples(st.just("pass"), st.just(None)),
    st.tuples(st.just("add"), which, st.integers(1, 3)),
    st.tuples(st.just("action"), which, st.sampled_from(["start", "pause", "resume"])),
    st.tuples(st.just("settings"), which, setting_changes),
    st.tuples(st.just("sequence"), which, steps),
    st.tuples(st.just("reply"), which, st.integers(0, 20)),
]
operations = st.one_of(
    *campaign_operations,
    st.tuples(st.just("delete"), which, st.integers(0, 20)),
    st.tuples(st.just("server"), st.sampled_from([None, "451 try later", "550 no such user"])),
    st.tuples(st.just("crash"), which, st.sampled_from(["claimed", "sending"])),
)


def sendable(moment, settings, now, capped):
    return in_window(moment, settings) and not (
        capped and local_day(moment, settings["timezone"]) == local_day(now, settings["timezone"]))


def check_stamps(ids):
    """Every active campaign of ``ids``: no minute its earliest due lead could go out
    comes before its stamp."""
    now = clock.now()
    for campaign in Campaign.select().where(Campaign.id.in_(ids)
                                            & (Campaign.status == CampaignStatus.ACTIVE)):
        check_stamp(campaign, now)


def check_stamp(campaign, now):
    first = (Lead.select(Lead.next_send_at)
             .where((Lead.campaign == campaign.id) & Lead.status.in_(OPEN_LEAD_STATUSES)
                    & Lead.next_send_at.is_null(False))
             .order_by(Lead.next_send_at).first())
    if first is None:
        return
    settings = campaign.settings
    capped = capped_today(campaign, now)
    no_minute_before_stamp(
        campaign, max(first.next_send_at, now),
        lambda moment: sendable(moment, settings, now, capped),
        f"lead due {first.next_send_at}, now {now}, capped {capped}, settings {settings}")


def capped_today(campaign, now):
    """Whether the campaign's daily limit is used up for the local day of ``now``."""
    settings = campaign.settings
    used = (Message.select().where(
        (Message.campaign == campaign.id)
        & (Message.local_day == local_day(now, settings["timezone"]))
        & Message.status.in_(COUNTED_MESSAGE_STATUSES)).count())
    return used >= settings["daily_limit"]


def no_minute_before_stamp(campaign, moment, could_send, context):
    """From ``moment`` on, minute by minute, no moment before the campaign's stamp is one
    at which ``could_send``; ``context`` explains a failure."""
    # A stamp of NULL is later than anything: look a week and a day ahead.
    stamp = campaign.next_send_at or moment + dt.timedelta(days=8)
    while moment < stamp:
        assert not could_send(moment), (
            f"campaign {campaign.id} could send at {moment} but is stamped "
            f"{campaign.next_send_at} ({context})")
        moment = (moment + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)


def run(op, tenant, ids, dispatcher, inbox, counter):
    kind, *args = op
    if kind == "advance":
        clock.advance(minutes=args[0])
    elif kind == "pass":
        dispatcher.run_once()
    elif kind == "server":
        inbox.rcpt_replies.clear()
        if args[0]:
            for n in range(counter[0]):
                inbox.rcpt_replies[f"lead{n}@example.com"] = args[0]
    elif kind == "crash":
        # A dispatcher dies after its claim, or inside the SMTP transaction.
        campaign_id, stage = ids[args[0]], args[1]
        batch = claiming.claim(campaign_id, clock.now(), batch=2, lease=claiming.seconds(300))
        if stage == "sending":
            for claim in batch.claims:
                claiming.start(claim, lease=claiming.seconds(300))
    else:
        campaign_id = ids[args[0]]
        try:
            if kind == "add":
                new = []
                for _ in range(args[1]):
                    new.append({"email": f"lead{counter[0]}@example.com"})
                    counter[0] += 1
                leads.add_leads(tenant.model, campaign_id, leads=new)
            elif kind == "action":
                campaigns.apply_action(tenant.model, campaign_id, action=args[1])
            elif kind == "settings":
                campaigns.update_campaign(tenant.model, campaign_id,
                                          changes={"settings": args[1]})
            elif kind == "sequence":
                campaigns.update_campaign(tenant.model, campaign_id,
                                          changes={"sequence": args[1]})
            elif kind in ("delete", "reply"):
                lead = (Lead.select().where(Lead.campaign == campaign_id)
                        .order_by(Lead.created_at, Lead.id).offset(args[1]).first())
                if lead is None:
                    return
                if kind == "delete":
                    leads.delete_lead(tenant.model, campaign_id, lead.id)
                else:
                    from app.database import transaction
                    with transaction():
                        outcomes.record_reply(lead, stop=True, now=clock.now())
        except AppError:
            pass  # refused (a 4xx through the API): nothing changed


def two_campaigns(tenant, settings, own=({}, {})):
    """Drafts A and B, two steps an hour apart, with ``settings`` and each its ``own``."""
    ids = []
    for name, more in zip("AB", own, strict=True):
        campaign = campaigns.create_campaign(tenant.model, workspace_slug=tenant.slug,
                                             name=name)
        campaigns.update_campaign(tenant.model, campaign.id, changes={
            "sequence": [{"subject": "Hello", "body": "Hi", "delay": 0,
                          "delay_unit": "minutes"},
                         {"subject": "", "body": "Again", "delay": 1, "delay_unit": "hours"}],
            "settings": {**SENDER, **settings, **more}})
        ids.append(campaign.id)
    return ids


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(start=st.sampled_from(STARTS), zone=st.sampled_from(ZONES),
       schedule=schedules, ops=st.lists(operations, min_size=1, max_size=25))
def test_no_due_lead_waits_behind_a_later_stamp(tenant, dispatcher, smtp_server, start,
                                                zone, schedule, ops):
    # Each example starts on an empty sending schedule (the database is the test's).
    Message.delete().execute()
    Campaign.delete().where(Campaign.workspace == tenant.workspace.id).execute()
    smtp_server.rcpt_replies.clear()
    clock.freeze(start)
    dispatcher.webhooks = dispatcher.imap = False
    ids = two_campaigns(tenant, {"timezone": zone, "schedule": schedule, "daily_limit": 3})
    counter = [0]
    for op in [("add", 0, 2), ("add", 1, 2), ("action", 0, "start"), *ops, ("pass", None)]:
        run(op, tenant, ids, dispatcher, smtp_server, counter)
        check_stamps(ids)
