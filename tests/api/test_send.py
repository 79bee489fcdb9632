"""POST /api/v1/tenant/campaigns/{id}/send: the state machine, every status x every action."""
import threading

import pytest

from app import database
from app.models import Campaign, CampaignEvent
from tests.conftest import BASE, STEP

STATUSES = ("draft", "active", "paused", "completed")
ACTIONS = ("start", "pause", "resume")

# (status, action) -> (HTTP status, status after, what GET detail says of the action)
# "allowed": the action moves the campaign; "no_op": its target already holds;
# "invalid_transition": it is refused with a 409.
TABLE = {
    ("draft", "start"): (200, "active", "allowed"),
    ("draft", "pause"): (409, "draft", "invalid_transition"),
    ("draft", "resume"): (409, "draft", "invalid_transition"),
    ("active", "start"): (200, "active", "no_op"),
    ("active", "pause"): (200, "paused", "allowed"),
    ("active", "resume"): (200, "active", "no_op"),
    ("paused", "start"): (409, "paused", "invalid_transition"),
    ("paused", "pause"): (200, "paused", "no_op"),
    ("paused", "resume"): (200, "active", "allowed"),
    ("completed", "start"): (409, "completed", "invalid_transition"),
    ("completed", "pause"): (409, "completed", "invalid_transition"),
    ("completed", "resume"): (409, "completed", "invalid_transition"),
}
CELLS = sorted(TABLE, key=lambda cell: (STATUSES.index(cell[0]), ACTIONS.index(cell[1])))


def url(campaign_id):
    return f"{BASE}/{campaign_id}"


def send(api, campaign_id, action, **kwargs):
    return api.post(f"{url(campaign_id)}/send", json={"action": action}, **kwargs)


def read(api, campaign_id):
    response = api.get(url(campaign_id))
    assert response.status_code == 200
    return response.json["data"]


def events_of(campaign_id):
    with database.connection():
        return list(CampaignEvent.select().where(CampaignEvent.campaign == campaign_id)
                    .order_by(CampaignEvent.created_at, CampaignEvent.id))


@pytest.fixture
def campaign_in(api, ready_campaign):
    """A campaign with one valid step, brought to ``status`` the way a client would."""
    def make(status):
        campaign_id = ready_campaign()["id"]
        if status in ("active", "paused"):
            assert send(api, campaign_id, "start").status_code == 200
        if status == "paused":
            assert send(api, campaign_id, "pause").status_code == 200
        if status == "completed":
            # No endpoint completes a campaign; the sender does, by writing the row.
            with database.connection():
                Campaign.update(status="completed").where(Campaign.id == campaign_id).execute()
        assert read(api, campaign_id)["status"] == status
        return campaign_id
    return make


def test_table_covers_every_status_and_action():
    assert set(TABLE) == {(s, a) for s in STATUSES for a in ACTIONS}


# ---- the table ------------------------------------------------------------------------

@pytest.mark.parametrize("status, action", CELLS)
def test_send_action_in_status(api, campaign_in, status, action):
    expected_code, expected_status, _ = TABLE[(status, action)]
    campaign_id = campaign_in(status)

    response = send(api, campaign_id, action)

    assert response.status_code == expected_code, response.json
    if expected_code == 200:
        assert response.json["success"] is True
        assert response.json["data"]["status"] == expected_status
    else:
        assert response.json["success"] is False
        assert response.json["error"]["code"] == "invalid_transition"
    assert read(api, campaign_id)["status"] == expected_status


@pytest.mark.parametrize("status, action", CELLS)
def test_send_action_records_an_event_only_when_it_moves(api, campaign_in, status, action):
    _, expected_status, kind = TABLE[(status, action)]
    campaign_id = campaign_in(status)
    before = len(events_of(campaign_id))

    send(api, campaign_id, action)

    new = events_of(campaign_id)[before:]
    if kind == "allowed":
        assert [(e.action, e.from_status, e.to_status) for e in new] == \
            [(action, status, expected_status)]
    else:
        assert new == []


@pytest.mark.parametrize("status", STATUSES)
def test_detail_actions_match_the_table(api, campaign_in, status):
    campaign_id = campaign_in(status)

    detail = read(api, campaign_id)

    expected_allowed = [a for a in ACTIONS if TABLE[(status, a)][2] == "allowed"]
    expected_blocked = {a: TABLE[(status, a)][2] for a in ACTIONS
                        if TABLE[(status, a)][2] != "allowed"}
    assert detail["allowed_actions"] == expected_allowed
    assert {b["action"]: b["code"] for b in detail["blocked_actions"]} == expected_blocked
    assert all(b["reason"] for b in detail["blocked_actions"])


@pytest.mark.parametrize("status, action",
                         [cell for cell in CELLS if TABLE[cell][0] == 409])
def test_refused_action_names_current_status_and_allowed_actions(api, campaign_in,
                                                                 status, action):
    campaign_id = campaign_in(status)
    allowed = read(api, campaign_id)["allowed_actions"]

    response = send(api, campaign_id, action)

    assert response.status_code == 409
    error = response.json["error"]
    assert error["details"]["status"] == status
    assert error["details"]["action"] == action
    assert error["details"]["allowed_actions"] == allowed
    assert status in error["message"]


# ---- named cases, for the reader ----------------------------------------------------------

def test_resume_on_draft_is_409(api, campaign_in):
    campaign_id = campaign_in("draft")
    response = send(api, campaign_id, "resume")
    assert response.status_code == 409
    assert "start" in response.json["error"]["message"]
    assert read(api, campaign_id)["status"] == "draft"


def test_start_on_paused_is_409_pointing_to_resume(api, campaign_in):
    campaign_id = campaign_in("paused")
    response = send(api, campaign_id, "start")
    assert response.status_code == 409
    assert response.json["error"]["details"]["allowed_actions"] == ["resume"]
    assert "resume" in response.json["error"]["message"]
    assert read(api, campaign_id)["status"] == "paused"


def test_repeated_start_is_a_no_op(api, campaign_in):
    campaign_id = campaign_in("draft")
    first = send(api, campaign_id, "start")
    second = send(api, campaign_id, "start")
    assert first.status_code == second.status_code == 200
    assert second.json["data"]["status"] == "active"
    assert second.json["data"]["version"] == first.json["data"]["version"]
    assert len(events_of(campaign_id)) == 1


def test_repeated_pause_is_a_no_op(api, campaign_in):
    campaign_id = campaign_in("active")
    send(api, campaign_id, "pause")
    version = read(api, campaign_id)["version"]
    response = send(api, campaign_id, "pause")
    assert response.status_code == 200
    assert read(api, campaign_id)["version"] == version
    assert [e.action for e in events_of(campaign_id)] == ["start", "pause"]


# ---- the event log ----------------------------------------------------------------------

def test_transition_records_one_event_with_its_key(api, campaign_in, tenant):
    campaign_id = campaign_in("draft")

    response = send(api, campaign_id, "start")

    assert response.status_code == 200
    [event] = events_of(campaign_id)
    assert (event.action, event.from_status, event.to_status) == ("start", "draft", "active")
    assert event.api_key_id == tenant.key.id
    assert event.created_at is not None


def test_full_cycle_is_logged_in_order(api, campaign_in):
    campaign_id = campaign_in("draft")
    for action in ("start", "pause", "resume", "pause"):
        assert send(api, campaign_id, action).status_code == 200
    assert [(e.action, e.from_status, e.to_status) for e in events_of(campaign_id)] == [
        ("start", "draft", "active"), ("pause", "active", "paused"),
        ("resume", "paused", "active"), ("pause", "active", "paused")]


def test_start_sets_launched_at(api, campaign_in):
    campaign_id = campaign_in("draft")
    assert read(api, campaign_id)["launched_at"] is None
    response = send(api, campaign_id, "start")
    assert response.json["data"]["launched_at"] is not None


def test_two_concurrent_starts_make_one_transition(app, campaign_in, tenant):
    campaign_id = campaign_in("draft")
    barrier = threading.Barrier(2)
    results = []

    def start():
        client = app.test_client()
        barrier.wait()
        response = client.post(f"{url(campaign_id)}/send", json={"action": "start"},
                               headers=tenant.headers)
        results.append(response.status_code)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [200, 200]
    assert [(e.from_status, e.to_status) for e in events_of(campaign_id)] == [("draft", "active")]


# ---- what start needs ---------------------------------------------------------------------

def test_start_with_an_empty_sequence_is_409_start_blocked(api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    assert api.patch(url(campaign_id), json={"sequence": []}).status_code == 200

    response = send(api, campaign_id, "start")

    assert response.status_code == 409
    assert response.json["error"]["code"] == "start_blocked"
    assert response.json["error"]["details"]["missing"] == ["sequence_empty"]
    assert response.json["error"]["details"]["status"] == "draft"
    assert "step" in response.json["error"]["message"]
    assert read(api, campaign_id)["status"] == "draft"
    assert events_of(campaign_id) == []


def test_start_blocked_lists_everything_missing_at_once(api, create_campaign):
    campaign_id = create_campaign()["id"]

    response = send(api, campaign_id, "start")

    assert response.status_code == 409
    assert response.json["error"]["code"] == "start_blocked"
    assert "sequence_empty" in response.json["error"]["details"]["missing"]
    assert len(response.json["error"]["details"]["missing"]) >= 2
    assert read(api, campaign_id)["status"] == "draft"


def test_empty_sequence_shows_start_blocked_in_detail(api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    api.patch(url(campaign_id), json={"sequence": []})

    detail = read(api, campaign_id)

    assert detail["allowed_actions"] == []
    [blocked_start] = [b for b in detail["blocked_actions"] if b["action"] == "start"]
    assert blocked_start["code"] == "start_blocked"
    assert "step" in blocked_start["reason"]


def test_start_after_adding_a_step_succeeds(api, ready_campaign):
    campaign_id = ready_campaign()["id"]
    api.patch(url(campaign_id), json={"sequence": []})
    assert send(api, campaign_id, "start").status_code == 409

    assert api.patch(url(campaign_id), json={"sequence": [STEP]}).status_code == 200
    response = send(api, campaign_id, "start")

    assert response.status_code == 200
    assert read(api, campaign_id)["status"] == "active"


# ---- the request ----------------------------------------------------------------------------

@pytest.mark.parametrize("body", [{}, {"action": "stop"}, {"action": None}, {"action": 1},
                                  {"action": "start", "force": True}])
def test_bad_action_body_is_422(api, campaign_in, body):
    campaign_id = campaign_in("draft")
    response = api.post(f"{url(campaign_id)}/send", json=body)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert read(api, campaign_id)["status"] == "draft"


def test_send_to_unknown_campaign_is_404(api):
    response = send(api, "cmp_doesnotexist", "start")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "campaign_not_found"


def test_send_with_stale_if_match_is_412_and_changes_nothing(api, campaign_in):
    campaign_id = campaign_in("draft")
    stale = '"v1"'
    assert read(api, campaign_id)["version"] != 1

    response = send(api, campaign_id, "start", headers={"If-Match": stale})

    assert response.status_code == 412
    assert read(api, campaign_id)["status"] == "draft"
    assert events_of(campaign_id) == []


def test_send_with_current_if_match_moves(api, campaign_in):
    campaign_id = campaign_in("draft")
    etag = api.get(url(campaign_id)).headers["ETag"]
    response = send(api, campaign_id, "start", headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert read(api, campaign_id)["status"] == "active"
