"""When mail goes out: schedule windows in the campaign's time zone, daily limits per local
day, step delays, pause and resume. The clock is moved, never waited for."""
import datetime as dt

import pytest

from tests.sending.conftest import ALWAYS, MONDAY_10, act, campaign, iso, lead_of

WEEKDAYS_9_TO_5 = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
EVERY_DAY_9_TO_5 = {**ALWAYS, "start": "09:00", "end": "17:00"}
ONE_STEP = [{"subject": "Hello {{firstName}}", "body": "Hi"}]
TWO_STEPS = [{"subject": "Hello {{firstName}}", "body": "Hi"},
             {"subject": "", "body": "Following up", "delay": 1, "delay_unit": "days"}]


def leads(n):
    return [{"email": f"lead{i}@example.com", "first_name": f"L{i}"} for i in range(n)]


def at(frozen, *args):
    frozen.freeze(dt.datetime(*args))


# ---- the window --------------------------------------------------------------------------

def test_nothing_is_sent_before_the_window_opens(launch, dispatcher, smtp_server, frozen):
    at(frozen, 2026, 11, 30, 8, 0)
    launch(leads=leads(1), sequence=ONE_STEP, settings={"schedule": WEEKDAYS_9_TO_5})
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 11, 30, 8, 59, 59)
    assert dispatcher.run_once().sent == 0
    assert smtp_server.messages == []
    at(frozen, 2026, 11, 30, 9, 0)
    assert dispatcher.run_once().sent == 1


def test_nothing_is_sent_from_the_end_of_the_window_to_the_next_opening(
        launch, dispatcher, smtp_server, frozen):
    at(frozen, 2026, 11, 30, 17, 0)
    launch(leads=leads(1), sequence=ONE_STEP, settings={"schedule": WEEKDAYS_9_TO_5})
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 11, 30, 23, 59)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 12, 1, 8, 59)
    assert dispatcher.run_once().sent == 0
    assert smtp_server.messages == []
    at(frozen, 2026, 12, 1, 9, 0)
    assert dispatcher.run_once().sent == 1


def test_nothing_is_sent_on_days_outside_the_schedule(api, launch, dispatcher, smtp_server,
                                                      frozen):
    at(frozen, 2026, 12, 5, 10, 0)  # a Saturday
    campaign_id = launch(leads=leads(1), sequence=ONE_STEP,
                         settings={"schedule": WEEKDAYS_9_TO_5})
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 12, 6, 12, 0)  # Sunday
    assert dispatcher.run_once().sent == 0
    assert smtp_server.messages == []
    at(frozen, 2026, 12, 7, 9, 0)  # Monday
    assert dispatcher.run_once().sent == 1
    assert lead_of(api, campaign_id, "lead0@example.com")["last_sent_at"] == \
        "2026-12-07T09:00:00Z"


def test_window_is_read_in_a_zone_whose_day_is_ahead_of_utc(launch, dispatcher, smtp_server,
                                                             frozen):
    # Pacific/Auckland is UTC+13 in December: Monday 20:00 UTC is Tuesday 09:00 there.
    settings = {"timezone": "Pacific/Auckland",
                "schedule": {"days": ["tue"], "start": "09:00", "end": "17:00"}}
    at(frozen, 2026, 11, 30, 19, 59)
    launch(leads=leads(1), sequence=ONE_STEP, settings=settings)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 11, 30, 20, 0)
    assert dispatcher.run_once().sent == 1
    assert len(smtp_server.messages) == 1


def test_window_is_not_read_in_utc_for_a_zone_ahead_of_it(launch, dispatcher, smtp_server,
                                                          frozen):
    # Tuesday 10:00 UTC is Tuesday 23:00 in Auckland: outside 09:00-17:00 there.
    settings = {"timezone": "Pacific/Auckland",
                "schedule": {"days": ["tue"], "start": "09:00", "end": "17:00"}}
    at(frozen, 2026, 12, 1, 10, 0)
    launch(leads=leads(1), sequence=ONE_STEP, settings=settings)
    assert dispatcher.run_once().sent == 0
    assert smtp_server.messages == []


def test_window_is_read_in_a_zone_whose_day_is_behind_utc(launch, dispatcher, smtp_server,
                                                           frozen):
    # America/Los_Angeles is UTC-8 in December: Tuesday 02:00 UTC is Monday 18:00 there.
    settings = {"timezone": "America/Los_Angeles",
                "schedule": {"days": ["mon"], "start": "18:00", "end": "24:00"}}
    at(frozen, 2026, 12, 1, 1, 59)
    launch(leads=leads(1), sequence=ONE_STEP, settings=settings)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 12, 1, 2, 0)
    assert dispatcher.run_once().sent == 1
    at(frozen, 2026, 12, 1, 8, 0)  # Tuesday 00:00 in Los Angeles: the window has closed
    launch(leads=[{"email": "late@example.com"}], sequence=ONE_STEP, settings=settings)
    assert dispatcher.run_once().sent == 0
    assert len(smtp_server.messages) == 1


def test_window_follows_the_spring_forward_in_paris(launch, dispatcher, smtp_server, frozen):
    # Paris moves from UTC+1 to UTC+2 on Sunday 28 March 2027: 09:00 local is 08:00 UTC
    # on the Friday before and 07:00 UTC on the Monday after.
    settings = {"timezone": "Europe/Paris", "schedule": EVERY_DAY_9_TO_5, "daily_limit": 1}
    at(frozen, 2027, 3, 26, 7, 59)
    launch(leads=leads(2), sequence=ONE_STEP, settings=settings)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2027, 3, 26, 8, 0)
    assert dispatcher.run_once().sent == 1
    at(frozen, 2027, 3, 29, 6, 59)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2027, 3, 29, 7, 0)
    assert dispatcher.run_once().sent == 1
    assert len(smtp_server.messages) == 2


def test_window_follows_the_fall_back_in_paris(launch, dispatcher, smtp_server, frozen):
    # Paris moves from UTC+2 to UTC+1 on Sunday 25 October 2026: 09:00 local is 07:00 UTC
    # on the Friday before and 08:00 UTC on the Monday after.
    settings = {"timezone": "Europe/Paris", "schedule": EVERY_DAY_9_TO_5, "daily_limit": 1}
    at(frozen, 2026, 10, 23, 7, 0)
    launch(leads=leads(2), sequence=ONE_STEP, settings=settings)
    assert dispatcher.run_once().sent == 1
    at(frozen, 2026, 10, 26, 7, 59)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 10, 26, 8, 0)
    assert dispatcher.run_once().sent == 1
    assert len(smtp_server.messages) == 2


def test_window_on_the_day_of_the_change_uses_that_days_offset(launch, dispatcher,
                                                               smtp_server, frozen):
    # On Sunday 28 March 2027 Paris is at UTC+2 from 01:00 UTC: 09:00 local is 07:00 UTC.
    settings = {"timezone": "Europe/Paris", "schedule": EVERY_DAY_9_TO_5}
    at(frozen, 2027, 3, 28, 6, 59)
    launch(leads=leads(1), sequence=ONE_STEP, settings=settings)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2027, 3, 28, 7, 0)
    assert dispatcher.run_once().sent == 1


# ---- the daily limit ------------------------------------------------------------------

def test_daily_limit_counts_per_local_calendar_day(api, launch, dispatcher, smtp_server,
                                                   frozen):
    # Monday 10:00 UTC is Monday 02:00 in Los Angeles; its Tuesday starts at 08:00 UTC.
    campaign_id = launch(leads=leads(5), sequence=ONE_STEP,
                         settings={"timezone": "America/Los_Angeles", "daily_limit": 2})
    assert dispatcher.run_once().sent == 2
    at(frozen, 2026, 12, 1, 0, 30)  # a new day in UTC, still Monday there
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 12, 1, 7, 59, 59)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 12, 1, 8, 0)
    assert dispatcher.run_once().sent == 2
    at(frozen, 2026, 12, 1, 23, 0)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 12, 2, 8, 0)
    assert dispatcher.run_once().sent == 1
    assert len(smtp_server.messages) == 5
    assert campaign(api, campaign_id)["stats"]["sent"] == 5


def test_daily_limit_holds_over_several_passes_on_one_day(launch, dispatcher, smtp_server,
                                                          frozen):
    launch(leads=leads(5), sequence=ONE_STEP, settings={"daily_limit": 2})
    sent = [dispatcher.run_once().sent for _ in range(3)]
    frozen.advance(hours=13)  # 23:00 the same day
    sent.append(dispatcher.run_once().sent)
    assert sent == [2, 0, 0, 0]
    assert len(smtp_server.messages) == 2


def test_daily_limit_counts_follow_ups_with_first_steps(launch, dispatcher, smtp_server,
                                                        frozen):
    sequence = [ONE_STEP[0], {"subject": "", "body": "Again", "delay": 1,
                              "delay_unit": "hours"}]
    launch(leads=leads(2), sequence=sequence, settings={"daily_limit": 3})
    assert dispatcher.run_once().sent == 2
    frozen.advance(hours=1)
    assert dispatcher.run_once().sent == 1
    frozen.advance(days=1)
    assert dispatcher.run_once().sent == 1
    assert sorted(smtp_server.counts().values()) == [1, 1, 1, 1]


# ---- delays ---------------------------------------------------------------------------

@pytest.mark.parametrize(("delay", "unit", "wait"), [
    (30, "minutes", dt.timedelta(minutes=30)),
    (3, "hours", dt.timedelta(hours=3)),
    (2, "days", dt.timedelta(days=2)),
])
def test_follow_up_is_due_its_delay_after_the_previous_step(api, launch, dispatcher,
                                                            smtp_server, frozen, delay,
                                                            unit, wait):
    sequence = [ONE_STEP[0], {"subject": "", "body": "Again", "delay": delay,
                              "delay_unit": unit}]
    campaign_id = launch(leads=leads(1), sequence=sequence)
    assert dispatcher.run_once().sent == 1
    lead = lead_of(api, campaign_id, "lead0@example.com")
    assert lead["next_send_at"] == iso(MONDAY_10 + wait)
    frozen.freeze(MONDAY_10 + wait - dt.timedelta(seconds=1))
    assert dispatcher.run_once().sent == 0
    frozen.freeze(MONDAY_10 + wait)
    assert dispatcher.run_once().sent == 1
    assert [m["Subject"] for m in smtp_server.parsed()] == ["Hello L0", "Re: Hello L0"]


def test_delay_counts_from_when_the_previous_step_was_sent(api, launch, dispatcher,
                                                           smtp_server, frozen):
    # Started at 08:00, step 1 waits for the 09:00 window; step 2 is due 2 h after 09:00.
    sequence = [ONE_STEP[0], {"subject": "", "body": "Again", "delay": 2,
                              "delay_unit": "hours"}]
    at(frozen, 2026, 11, 30, 8, 0)
    campaign_id = launch(leads=leads(1), sequence=sequence,
                         settings={"schedule": WEEKDAYS_9_TO_5})
    at(frozen, 2026, 11, 30, 9, 0)
    assert dispatcher.run_once().sent == 1
    at(frozen, 2026, 11, 30, 10, 59)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 11, 30, 11, 0)
    assert dispatcher.run_once().sent == 1
    assert lead_of(api, campaign_id, "lead0@example.com")["last_sent_at"] == \
        "2026-11-30T11:00:00Z"


def test_first_step_delay_counts_from_the_start(launch, dispatcher, smtp_server, frozen):
    sequence = [{**ONE_STEP[0], "delay": 90, "delay_unit": "minutes"}]
    launch(leads=leads(1), sequence=sequence)
    frozen.advance(minutes=89)
    assert dispatcher.run_once().sent == 0
    frozen.advance(minutes=1)
    assert dispatcher.run_once().sent == 1


def test_follow_up_falling_outside_the_window_waits_for_it(launch, dispatcher, smtp_server,
                                                           frozen):
    # Step 1 at Friday 16:00; step 2 (2 hours later) would fall on Friday 18:00.
    sequence = [ONE_STEP[0], {"subject": "", "body": "Again", "delay": 2,
                              "delay_unit": "hours"}]
    at(frozen, 2026, 12, 4, 16, 0)
    launch(leads=leads(1), sequence=sequence, settings={"schedule": WEEKDAYS_9_TO_5})
    assert dispatcher.run_once().sent == 1
    at(frozen, 2026, 12, 4, 18, 0)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 12, 6, 12, 0)
    assert dispatcher.run_once().sent == 0
    at(frozen, 2026, 12, 7, 9, 0)
    assert dispatcher.run_once().sent == 1


# ---- pause and resume -------------------------------------------------------------------

def pause_on_first_message(api, smtp_server, campaign_id):
    """Pause the campaign while the server holds the first message's DATA."""
    paused = []

    def on_data(envelope):
        if not paused:
            paused.append(act(api, campaign_id, "pause")["status"])
    smtp_server.on_data = on_data
    return paused


def test_nothing_is_sent_while_paused(api, launch, dispatcher, smtp_server, frozen):
    campaign_id = launch(leads=leads(2), sequence=TWO_STEPS)
    act(api, campaign_id, "pause")
    assert dispatcher.run_once().sent == 0
    frozen.advance(days=3)
    assert dispatcher.run_once().sent == 0
    assert smtp_server.messages == []


def test_pause_stops_sending_at_once_in_the_middle_of_a_batch(api, launch, dispatcher,
                                                              smtp_server, frozen):
    campaign_id = launch(leads=leads(5), sequence=TWO_STEPS)
    paused = pause_on_first_message(api, smtp_server, campaign_id)
    summary = dispatcher.run_once()
    assert paused == ["paused"]
    assert (summary.sent, summary.released) == (1, 4)
    assert len(smtp_server.messages) == 1
    assert campaign(api, campaign_id)["status"] == "paused"
    assert dispatcher.run_once().sent == 0
    assert len(smtp_server.messages) == 1


def test_resume_continues_where_it_stopped_without_duplicates(api, launch, dispatcher,
                                                              smtp_server, frozen):
    campaign_id = launch(leads=leads(5), sequence=TWO_STEPS)
    pause_on_first_message(api, smtp_server, campaign_id)
    dispatcher.run_once()
    frozen.advance(hours=5)
    act(api, campaign_id, "resume")
    assert dispatcher.run_once().sent == 4
    frozen.advance(days=1)
    assert dispatcher.run_once().sent == 5
    counts = smtp_server.counts()
    assert len(counts) == 10 and set(counts.values()) == {1}
    assert campaign(api, campaign_id)["stats"]["sent"] == 10


def test_resume_sends_the_next_step_not_the_first_again(api, launch, dispatcher, smtp_server,
                                                        frozen):
    campaign_id = launch(leads=leads(2), sequence=TWO_STEPS)
    assert dispatcher.run_once().sent == 2
    act(api, campaign_id, "pause")
    frozen.advance(days=3)  # step 2 fell due while paused
    assert dispatcher.run_once().sent == 0
    act(api, campaign_id, "resume")
    assert dispatcher.run_once().sent == 2
    subjects = sorted(subject for (_, subject) in smtp_server.counts().elements())
    assert subjects == ["Hello L0", "Hello L1", "Re: Hello L0", "Re: Hello L1"]
    assert campaign(api, campaign_id)["status"] == "completed"
