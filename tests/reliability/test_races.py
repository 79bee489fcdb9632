"""Clients racing on one campaign, through gunicorn on Postgres.

Requests are released together (a barrier) from one thread each, into three gunicorn
workers of eight threads: up to 24 requests are inside the service at once, on separate
database connections, so every read-modify-write meets a concurrent one.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest

from app.models import Campaign, CampaignEvent
from tests.conftest import ON_POSTGRES
from tests.reliability.live import (
    CAMPAIGNS,
    SLUG,
    create_campaign,
    direct_database,
    gunicorn,
    live_env,
    ready_campaign,
    send,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="races need concurrent writers: SQLite "
                       "serialises them (set TEST_DATABASE_URL to a Postgres server)"),
]

WORKERS, THREADS = 3, 8
RELEASE_TIMEOUT = 30
ANSWER_TIMEOUT = 60


@pytest.fixture
def server(service_env, tmp_path):
    env = live_env(service_env, RATE_LIMIT="1000000/minute")
    with gunicorn(env, tmp_path, workers=WORKERS, threads=THREADS) as base:
        yield base


def all_at_once(calls):
    """Run each call in a thread of its own, all released together; results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=RELEASE_TIMEOUT)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=ANSWER_TIMEOUT) for future in futures]


# Settings only one writer touches: each must survive every other writer's merge.
ONE_OFF = {
    0: {"track_opens": False},
    1: {"track_clicks": True},
    2: {"stop_on_reply": False},
    3: {"timezone": "Europe/Paris"},
    4: {"reply_to": "replies@acme.test"},
    5: {"schedule": {"days": ["sat", "sun"]}},
}


def _shows(settings, change):
    key, value = next(iter(change.items()))
    if key == "schedule":
        return settings["schedule"] == {"days": value["days"], "start": "09:00", "end": "17:00"}
    return settings[key] == value


def test_thirty_concurrent_patches_all_apply_in_turn(server, api_key):
    campaign = create_campaign(server, api_key, "Raced settings")
    url = f"{CAMPAIGNS}/{campaign['id']}"

    def patch(writer):
        # A pair every writer sets (a half-applied write would split it) and, for some,
        # a key nobody else sets (a lost merge would put the default back).
        settings = {"from_name": f"Writer {writer}", "daily_limit": 1000 + writer,
                    **ONE_OFF.get(writer, {})}
        return send(server, "PATCH", url, key=api_key, body={"settings": settings})

    answers = all_at_once([partial(patch, writer) for writer in range(30)])

    assert [a.status for a in answers] == [200] * 30, answers
    version_of = {writer: a.json["data"]["version"] for writer, a in enumerate(answers)}
    # Every write read the one before it: one new version each, none shared.
    assert sorted(version_of.values()) == list(range(2, 32))
    for writer, answer in enumerate(answers):
        settings = answer.json["data"]["settings"]
        assert (settings["from_name"], settings["daily_limit"]) == (
            f"Writer {writer}", 1000 + writer)
        assert answer.headers["ETag"] == f'"v{version_of[writer]}"'
        # Every one-off written before this write is in what this write stored.
        for other, change in ONE_OFF.items():
            if version_of[other] <= version_of[writer]:
                assert _shows(settings, change), (writer, other, settings)

    final = send(server, "GET", url, key=api_key)
    assert final.status == 200, final
    data = final.json["data"]
    assert data["version"] == 1 + 30
    last = max(version_of, key=version_of.get)
    assert (data["settings"]["from_name"], data["settings"]["daily_limit"]) == (
        f"Writer {last}", 1000 + last)
    for change in ONE_OFF.values():
        assert _shows(data["settings"], change), data["settings"]
    assert data["settings"]["from_email"] is None  # untouched by every writer


def test_twenty_concurrent_starts_make_one_transition_and_one_event(server, api_key, db_url):
    campaign = ready_campaign(server, api_key, "Raced launch")
    url = f"{CAMPAIGNS}/{campaign['id']}/send"

    answers = all_at_once([partial(send, server, "POST", url, key=api_key,
                                   body={"action": "start"})] * 20)

    assert [a.status for a in answers] == [200] * 20, answers
    assert {a.json["data"]["status"] for a in answers} == {"active"}
    # The one that moved it and the ones that found it moved report the same version.
    assert {a.json["data"]["version"] for a in answers} == {campaign["version"] + 1}
    with direct_database(db_url):
        events = list(CampaignEvent.select().where(CampaignEvent.campaign == campaign["id"]))
        stored = Campaign.get_by_id(campaign["id"])
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("start", "draft", "active")]
    assert (stored.status, stored.version) == ("active", campaign["version"] + 1)


def test_concurrent_retries_with_one_idempotency_key_create_one_campaign(
        server, api_key, db_url):
    body = {"workspace_slug": SLUG, "name": "Retried create"}
    headers = {"Idempotency-Key": "create-retried-ten-times"}

    answers = all_at_once([partial(send, server, "POST", CAMPAIGNS, key=api_key, body=body,
                                   headers=headers)] * 10)

    created = [a for a in answers if a.status == 201]
    busy = [a for a in answers if a.status == 409]
    assert len(created) + len(busy) == 10, answers
    # One request did the work; the others replayed its answer or were told to retry.
    assert [a.headers.get("Idempotent-Replayed") for a in created].count(None) == 1, created
    ids = {a.json["data"]["id"] for a in created}
    assert len(ids) == 1, ids
    for answer in busy:
        assert answer.error_code == "idempotency_key_in_use", answer
        assert int(answer.headers["Retry-After"]) > 0

    retry = send(server, "POST", CAMPAIGNS, key=api_key, body=body, headers=headers)
    assert retry.status == 201, retry
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json["data"]["id"] in ids
    with direct_database(db_url):
        stored = [c.id for c in Campaign.select().where(Campaign.name == "Retried create")]
    assert stored == list(ids)
