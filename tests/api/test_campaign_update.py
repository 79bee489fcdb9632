"""PATCH /api/v1/tenant/campaigns/{id}: merged settings, whole sequences, all-or-nothing."""
import datetime as dt

import pytest

from app import clock, database
from app.models import Campaign
from tests.conftest import BASE, STEP


def url(campaign_id):
    return f"{BASE}/{campaign_id}"


def read(api, campaign_id):
    response = api.get(url(campaign_id))
    assert response.status_code == 200
    return response.json["data"]


def send(api, campaign_id, action):
    response = api.post(f"{url(campaign_id)}/send", json={"action": action})
    assert response.status_code == 200, response.json
    return response.json["data"]


def set_status(campaign_id, status):
    with database.connection():
        Campaign.update(status=status).where(Campaign.id == campaign_id).execute()


def fields_of(response):
    assert response.status_code == 422, response.json
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "validation_error"
    return response.json["error"]["details"]["fields"]


def step(n=None, **fields):
    out = {"subject": f"Subject {n}" if n in (None, 1) else "", "body": f"Body {n}", **fields}
    if n is not None:
        out["step"] = n
    return out


# ---- name and goal ----------------------------------------------------------------------

def test_name_is_updated_and_trimmed(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"name": "  Renamed  "})
    assert response.status_code == 200
    assert response.json["data"]["name"] == "Renamed"
    assert read(api, campaign["id"])["name"] == "Renamed"


def test_goal_is_updated(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"goal": "awareness"})
    assert response.status_code == 200
    assert read(api, campaign["id"])["goal"] == "awareness"


def test_unknown_goal_is_422(api, create_campaign):
    campaign = create_campaign()
    assert "goal" in fields_of(api.patch(url(campaign["id"]), json={"goal": "fame"}))
    assert read(api, campaign["id"])["goal"] == "lead_gen"


@pytest.mark.parametrize("name", ["", "   ", "n" * 201])
def test_bad_name_is_422(api, create_campaign, name):
    campaign = create_campaign(name="Kept")
    assert "name" in fields_of(api.patch(url(campaign["id"]), json={"name": name}))
    assert read(api, campaign["id"])["name"] == "Kept"


def test_unknown_field_is_422(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"status": "active"}))
    assert fields == {"status": ["Not a known field; check its spelling."]}
    assert read(api, campaign["id"])["status"] == "draft"


def test_empty_patch_changes_nothing(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={})
    assert response.status_code == 200
    assert read(api, campaign["id"]) == campaign


def test_patch_bumps_the_version_and_updated_at(api, create_campaign):
    clock.freeze(dt.datetime(2025, 11, 1, 10, 0, 0))
    campaign = create_campaign()
    clock.advance(hours=2)

    response = api.patch(url(campaign["id"]), json={"name": "v2"})

    assert response.json["data"]["version"] == campaign["version"] + 1
    after = read(api, campaign["id"])
    assert after["version"] == campaign["version"] + 1
    assert after["updated_at"] == "2025-11-01T12:00:00Z"
    assert after["created_at"] == "2025-11-01T10:00:00Z"


# ---- settings ---------------------------------------------------------------------------

def test_settings_are_merged_key_by_key(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"settings": {"daily_limit": 100}})
    assert response.status_code == 200
    expected = {**campaign["settings"], "daily_limit": 100}
    assert response.json["data"]["settings"] == expected
    assert read(api, campaign["id"])["settings"] == expected


def test_settings_merges_accumulate(api, create_campaign):
    campaign = create_campaign()
    api.patch(url(campaign["id"]), json={"settings": {"daily_limit": 100}})
    api.patch(url(campaign["id"]), json={"settings": {"track_clicks": True}})
    settings = read(api, campaign["id"])["settings"]
    assert settings["daily_limit"] == 100
    assert settings["track_clicks"] is True
    assert settings["track_opens"] is True


def test_schedule_is_merged_key_by_key(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"settings": {"schedule": {"start": "08:00"}}})
    assert response.status_code == 200
    assert read(api, campaign["id"])["settings"]["schedule"] == {
        "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "17:00"}


def test_schedule_days_are_replaced_as_a_list(api, create_campaign):
    campaign = create_campaign()
    api.patch(url(campaign["id"]), json={"settings": {"schedule": {"days": ["sat", "sun"]}}})
    schedule = read(api, campaign["id"])["settings"]["schedule"]
    assert schedule == {"days": ["sat", "sun"], "start": "09:00", "end": "17:00"}


def test_every_setting_can_be_set(api, create_campaign):
    campaign = create_campaign()
    settings = {
        "daily_limit": 10000, "track_opens": False, "track_clicks": True,
        "stop_on_reply": False, "timezone": "Europe/Paris",
        "schedule": {"days": ["mon"], "start": "00:00", "end": "24:00"},
        "from_name": "Ada Lovelace", "from_email": "ada@example.com",
        "reply_to": "replies@example.com",
    }
    response = api.patch(url(campaign["id"]), json={"settings": settings})
    assert response.status_code == 200, response.json
    # settings.mailboxes (tests/mailboxes/test_sending.py) needs mailboxes to list.
    assert read(api, campaign["id"])["settings"] == {**settings, "mailboxes": []}


def test_nullable_settings_can_be_cleared(api, create_campaign):
    campaign = create_campaign()
    api.patch(url(campaign["id"]), json={"settings": {"from_name": "Ada"}})
    response = api.patch(url(campaign["id"]), json={"settings": {"from_name": None}})
    assert response.status_code == 200
    assert read(api, campaign["id"])["settings"]["from_name"] is None


@pytest.mark.parametrize("value", [0, 10001, -5])
def test_daily_limit_out_of_range_is_422(api, create_campaign, value):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"settings": {"daily_limit": value}}))
    assert "daily_limit" in fields["settings"]
    assert read(api, campaign["id"])["settings"]["daily_limit"] == 50


@pytest.mark.parametrize("value", ["100", 100.5, True, None])
def test_daily_limit_must_be_a_json_integer(api, create_campaign, value):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"settings": {"daily_limit": value}}))
    assert "daily_limit" in fields["settings"]
    assert read(api, campaign["id"])["settings"]["daily_limit"] == 50


@pytest.mark.parametrize("field", ["track_opens", "track_clicks", "stop_on_reply"])
@pytest.mark.parametrize("value", ["true", 1, 0, "yes", None])
def test_flags_must_be_json_booleans(api, create_campaign, field, value):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"settings": {field: value}}))
    assert field in fields["settings"]
    assert read(api, campaign["id"])["settings"] == campaign["settings"]


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC"])
def test_iana_timezone_is_accepted(api, create_campaign, zone):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"settings": {"timezone": zone}})
    assert response.status_code == 200
    assert read(api, campaign["id"])["settings"]["timezone"] == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "Europe/", "../../etc/passwd", "+02:00"])
def test_unknown_timezone_is_422(api, create_campaign, zone):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"settings": {"timezone": zone}}))
    assert "timezone" in fields["settings"]
    assert read(api, campaign["id"])["settings"]["timezone"] == "UTC"


@pytest.mark.parametrize("name", ["Ada\nBcc: victim@example.com", "Ada\r\nX: y", "Ada\x00"])
def test_from_name_with_a_line_break_or_control_character_is_422(api, create_campaign, name):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"settings": {"from_name": name}}))
    assert "from_name" in fields["settings"]
    assert read(api, campaign["id"])["settings"]["from_name"] is None


@pytest.mark.parametrize("field", ["from_email", "reply_to"])
def test_bad_email_address_is_422(api, create_campaign, field):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]),
                                 json={"settings": {field: "not-an-address"}}))
    assert field in fields["settings"]


@pytest.mark.parametrize("schedule, field", [
    ({"days": ["funday"]}, "days"),
    ({"days": []}, "days"),
    ({"days": ["mon", "mon"]}, "days"),
    ({"start": "9:00"}, "start"),
    ({"start": "25:00"}, "start"),
    ({"end": "17:60"}, "end"),
])
def test_bad_schedule_is_422(api, create_campaign, schedule, field):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"settings": {"schedule": schedule}}))
    assert field in fields["settings"]["schedule"]
    assert read(api, campaign["id"])["settings"] == campaign["settings"]


def test_schedule_ending_before_it_starts_after_the_merge_is_422(api, create_campaign):
    campaign = create_campaign()
    # The stored end is 17:00: a start of 18:00 alone inverts the window.
    fields = fields_of(api.patch(url(campaign["id"]),
                                 json={"settings": {"schedule": {"start": "18:00"}}}))
    assert "end" in fields["settings"]["schedule"]
    assert read(api, campaign["id"])["settings"] == campaign["settings"]


def test_unknown_setting_is_422(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"settings": {"speed": "fast"}}))
    assert "speed" in fields["settings"]
    assert read(api, campaign["id"])["settings"] == campaign["settings"]


# ---- sequence ---------------------------------------------------------------------------

def test_sequence_is_stored_with_defaults(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"sequence": [
        {"subject": "Hello {{firstName}}", "body": "Hi"},
        {"body": "Following up"},
    ]})
    assert response.status_code == 200, response.json
    assert read(api, campaign["id"])["sequence"] == [
        {"step": 1, "type": "email", "subject": "Hello {{firstName}}", "body": "Hi",
         "delay": 0, "delay_unit": "days"},
        {"step": 2, "type": "email", "subject": "", "body": "Following up",
         "delay": 1, "delay_unit": "days"},
    ]


def test_sequence_replaces_the_whole_list(api, create_campaign):
    campaign = create_campaign()
    api.patch(url(campaign["id"]), json={"sequence": [step(1), step(2), step(3)]})
    response = api.patch(url(campaign["id"]), json={"sequence": [step(1, body="Only")]})
    assert response.status_code == 200
    sequence = read(api, campaign["id"])["sequence"]
    assert [s["body"] for s in sequence] == ["Only"]


def test_sequence_can_be_emptied_in_draft(api, ready_campaign):
    campaign = ready_campaign()
    response = api.patch(url(campaign["id"]), json={"sequence": []})
    assert response.status_code == 200
    assert read(api, campaign["id"])["sequence"] == []


def test_steps_are_numbered_in_order_when_omitted(api, create_campaign):
    campaign = create_campaign()
    api.patch(url(campaign["id"]), json={"sequence": [step(), step(subject=""), step()]})
    assert [s["step"] for s in read(api, campaign["id"])["sequence"]] == [1, 2, 3]


def test_explicit_step_numbers_in_order_are_accepted(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"sequence": [step(1), step(2)]})
    assert response.status_code == 200
    assert [s["step"] for s in read(api, campaign["id"])["sequence"]] == [1, 2]


@pytest.mark.parametrize("numbers, bad_index", [([2, 1], "0"), ([1, 3], "1"), ([1, 1], "1")])
def test_steps_out_of_order_or_with_gaps_are_422(api, create_campaign, numbers, bad_index):
    campaign = create_campaign()
    sequence = [step(n) for n in numbers]
    fields = fields_of(api.patch(url(campaign["id"]), json={"sequence": sequence}))
    assert "step" in fields["sequence"][bad_index]
    assert read(api, campaign["id"])["sequence"] == []


def test_twenty_steps_are_accepted(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"sequence": [step(n) for n in range(1, 21)]})
    assert response.status_code == 200, response.json
    assert len(read(api, campaign["id"])["sequence"]) == 20


def test_more_than_twenty_steps_is_422(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]),
                                 json={"sequence": [step(n) for n in range(1, 22)]}))
    assert "sequence" in fields
    assert read(api, campaign["id"])["sequence"] == []


def test_first_step_needs_a_subject(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]),
                                 json={"sequence": [{"subject": "  ", "body": "Hi"}]}))
    assert "subject" in fields["sequence"]["0"]


def test_later_step_with_empty_subject_is_a_reply(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]),
                         json={"sequence": [step(1), {"subject": "", "body": "Bump"}]})
    assert response.status_code == 200
    assert read(api, campaign["id"])["sequence"][1]["subject"] == ""


def test_step_needs_a_body(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"sequence": [{"subject": "Hi"}]}))
    assert "body" in fields["sequence"]["0"]


def test_step_type_other_than_email_is_422(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]),
                                 json={"sequence": [step(1, type="sms")]}))
    assert "type" in fields["sequence"]["0"]


@pytest.mark.parametrize("unit", ["minutes", "hours", "days"])
def test_delay_units_are_accepted(api, create_campaign, unit):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"sequence": [
        step(1), step(2, delay=3, delay_unit=unit)]})
    assert response.status_code == 200
    stored = read(api, campaign["id"])["sequence"][1]
    assert (stored["delay"], stored["delay_unit"]) == (3, unit)


@pytest.mark.parametrize("delay", ["1", 1.5, True, -1])
def test_delay_must_be_a_non_negative_json_integer(api, create_campaign, delay):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]),
                                 json={"sequence": [step(1), step(2, delay=delay)]}))
    assert "delay" in fields["sequence"]["1"]


def test_delay_over_a_year_is_422(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"sequence": [
        step(1), step(2, delay=366, delay_unit="days")]}))
    assert "delay" in fields["sequence"]["1"]


def test_unknown_delay_unit_is_422(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"sequence": [
        step(1), step(2, delay=1, delay_unit="weeks")]}))
    assert "delay_unit" in fields["sequence"]["1"]


def test_template_with_fallback_is_accepted(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"sequence": [STEP]})
    assert response.status_code == 200
    assert read(api, campaign["id"])["sequence"][0]["body"] == STEP["body"]


def test_body_template_that_does_not_parse_names_step_and_field(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"sequence": [
        step(1), step(2, body="Hi {% if firstName %}")]}))
    assert list(fields["sequence"]) == ["1"]
    assert list(fields["sequence"]["1"]) == ["body"]
    assert "does not parse" in fields["sequence"]["1"]["body"][0]
    assert read(api, campaign["id"])["sequence"] == []


def test_subject_template_that_does_not_parse_names_step_and_field(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"sequence": [
        {"subject": "Hello {{ firstName", "body": "ok"}]}))
    assert list(fields["sequence"]) == ["0"]
    assert list(fields["sequence"]["0"]) == ["subject"]
    assert "does not parse" in fields["sequence"]["0"]["subject"][0]


def test_sequence_that_is_not_a_list_is_422(api, create_campaign):
    campaign = create_campaign()
    assert "sequence" in fields_of(api.patch(url(campaign["id"]), json={"sequence": {"a": 1}}))


def test_step_that_is_not_an_object_is_422(api, create_campaign):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"sequence": ["Hello"]}))
    assert "0" in fields["sequence"]


# ---- all or nothing -----------------------------------------------------------------------

def test_every_bad_field_is_reported_at_once_and_nothing_is_written(api, create_campaign):
    campaign = create_campaign(name="Kept")
    before = read(api, campaign["id"])
    response = api.patch(url(campaign["id"]), json={
        "name": "",
        "goal": "fame",
        "settings": {"daily_limit": "5", "track_opens": 1, "timezone": "Mars/Olympus",
                     "from_name": "a\nb", "schedule": {"start": "9"}},
        "sequence": [{"subject": "{{ x", "body": "ok"}, {"step": 7, "body": "{% if %}"}],
    })
    fields = fields_of(response)
    assert set(fields) == {"name", "goal", "settings", "sequence"}
    assert set(fields["settings"]) == {"daily_limit", "track_opens", "timezone",
                                       "from_name", "schedule"}
    assert set(fields["sequence"]) == {"0", "1"}
    assert set(fields["sequence"]["1"]) == {"step", "body"}
    assert read(api, campaign["id"]) == before


def test_valid_fields_are_not_written_when_another_is_bad(api, create_campaign):
    campaign = create_campaign(name="Kept")
    before = read(api, campaign["id"])
    response = api.patch(url(campaign["id"]), json={
        "name": "Would change", "settings": {"daily_limit": 100},
        "sequence": [step(1)], "goal": "fame"})
    assert response.status_code == 422
    assert read(api, campaign["id"]) == before


def test_bad_schedule_window_is_reported_with_other_bad_fields(api, create_campaign):
    campaign = create_campaign(name="Kept")
    before = read(api, campaign["id"])
    fields = fields_of(api.patch(url(campaign["id"]), json={
        "name": "", "settings": {"schedule": {"start": "18:00", "end": "09:00"}}}))
    assert "name" in fields
    assert "end" in fields["settings"]["schedule"]
    assert read(api, campaign["id"]) == before


def test_schedule_window_error_leaves_other_changes_unwritten(api, create_campaign):
    campaign = create_campaign(name="Kept")
    before = read(api, campaign["id"])
    response = api.patch(url(campaign["id"]), json={
        "name": "Would change", "settings": {"daily_limit": 7, "schedule": {"end": "08:00"}}})
    assert response.status_code == 422
    assert read(api, campaign["id"]) == before


# ---- status rules -------------------------------------------------------------------------

def test_completed_campaign_cannot_be_changed(api, ready_campaign):
    campaign = ready_campaign(name="Done")
    set_status(campaign["id"], "completed")
    before = read(api, campaign["id"])
    response = api.patch(url(campaign["id"]), json={"name": "Again"})
    assert response.status_code == 409
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "campaign_completed"
    assert response.json["error"]["details"]["status"] == "completed"
    assert read(api, campaign["id"]) == before


def test_completed_campaign_settings_cannot_be_changed(api, ready_campaign):
    campaign = ready_campaign()
    set_status(campaign["id"], "completed")
    response = api.patch(url(campaign["id"]), json={"settings": {"daily_limit": 5}})
    assert response.status_code == 409
    assert read(api, campaign["id"])["settings"]["daily_limit"] == 50


def test_sequence_change_while_active_is_409_saying_to_pause(api, ready_campaign):
    campaign = ready_campaign()
    send(api, campaign["id"], "start")
    before = read(api, campaign["id"])
    response = api.patch(url(campaign["id"]), json={"sequence": [step(1, body="New")]})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "campaign_active"
    assert "pause" in response.json["error"]["message"]
    assert response.json["error"]["details"]["status"] == "active"
    assert read(api, campaign["id"]) == before


def test_sequence_change_while_active_writes_no_other_field(api, ready_campaign):
    campaign = ready_campaign(name="Kept")
    send(api, campaign["id"], "start")
    response = api.patch(url(campaign["id"]),
                         json={"name": "Changed", "sequence": [step(1, body="New")]})
    assert response.status_code == 409
    assert read(api, campaign["id"])["name"] == "Kept"


def test_sequence_change_while_paused_is_allowed(api, ready_campaign):
    campaign = ready_campaign()
    send(api, campaign["id"], "start")
    send(api, campaign["id"], "pause")
    response = api.patch(url(campaign["id"]), json={"sequence": [step(1, body="New")]})
    assert response.status_code == 200
    assert read(api, campaign["id"])["sequence"][0]["body"] == "New"


def test_name_and_settings_change_while_active(api, ready_campaign):
    campaign = ready_campaign()
    send(api, campaign["id"], "start")
    response = api.patch(url(campaign["id"]),
                         json={"name": "Live rename", "settings": {"daily_limit": 10}})
    assert response.status_code == 200
    after = read(api, campaign["id"])
    assert (after["name"], after["settings"]["daily_limit"], after["status"]) == \
        ("Live rename", 10, "active")


def test_unknown_campaign_is_404(api):
    response = api.patch(url("cmp_doesnotexist"), json={"name": "x"})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "campaign_not_found"


# ---- ETag and If-Match --------------------------------------------------------------------

def test_get_has_an_etag(api, create_campaign):
    campaign = create_campaign()
    response = api.get(url(campaign["id"]))
    assert response.headers["ETag"] == f'"v{campaign["version"]}"'


def test_patch_returns_the_new_etag(api, create_campaign):
    campaign = create_campaign()
    before = api.get(url(campaign["id"])).headers["ETag"]
    response = api.patch(url(campaign["id"]), json={"name": "x"})
    assert response.headers["ETag"] != before
    assert response.headers["ETag"] == api.get(url(campaign["id"])).headers["ETag"]


def test_if_match_with_the_current_etag_updates(api, create_campaign):
    campaign = create_campaign()
    etag = api.get(url(campaign["id"])).headers["ETag"]
    response = api.patch(url(campaign["id"]), json={"name": "Matched"},
                         headers={"If-Match": etag})
    assert response.status_code == 200
    assert read(api, campaign["id"])["name"] == "Matched"


def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(api, create_campaign):
    campaign = create_campaign(name="Original")
    stale = api.get(url(campaign["id"])).headers["ETag"]
    assert api.patch(url(campaign["id"]), json={"name": "Someone else"}).status_code == 200
    before = read(api, campaign["id"])

    response = api.patch(url(campaign["id"]), json={"name": "Mine"}, headers={"If-Match": stale})

    assert response.status_code == 412
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "precondition_failed"
    assert response.json["error"]["details"]["current_version"] == before["version"]
    assert read(api, campaign["id"]) == before


@pytest.mark.parametrize("header", ['"garbage"', "v1x", '"v999"'])
def test_if_match_that_names_no_current_version_is_412(api, create_campaign, header):
    campaign = create_campaign(name="Original")
    response = api.patch(url(campaign["id"]), json={"name": "Mine"}, headers={"If-Match": header})
    assert response.status_code == 412
    assert read(api, campaign["id"])["name"] == "Original"


def test_if_match_star_updates(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"name": "Any"}, headers={"If-Match": "*"})
    assert response.status_code == 200
    assert read(api, campaign["id"])["name"] == "Any"


@pytest.mark.parametrize("field", ["from_email", "reply_to"])
def test_address_with_non_ascii_before_the_at_is_422(api, create_campaign, field):
    campaign = create_campaign()
    fields = fields_of(api.patch(url(campaign["id"]), json={"settings": {field: "adä@acme.test"}}))
    assert field in fields["settings"]
    assert read(api, campaign["id"])["settings"][field] is None


def test_sender_with_an_international_domain_is_stored_in_its_ascii_form(api, create_campaign):
    campaign = create_campaign()
    response = api.patch(url(campaign["id"]), json={"settings": {"from_email": "ada@exämple.com"}})
    assert response.status_code == 200
    assert read(api, campaign["id"])["settings"]["from_email"] == "ada@xn--exmple-cua.com"
