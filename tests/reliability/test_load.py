"""Mixed traffic for LOAD_SECONDS (default 60) against gunicorn with several workers on
Postgres, from several client threads on 127.0.0.1: no answer is a 5xx (or missing) and
no write is lost.

Each client thread lists, reads, creates campaigns, PATCHes one campaign all threads
share, pauses and resumes a campaign of its own and adds leads to it. Afterwards the
database must hold every campaign a 201 announced, the shared campaign's version must
count every 200 PATCH, every pause/resume must be an event and every added lead a row.
"""
import os
import random
import threading
import time
from collections import Counter

import pytest

from app.models import Campaign, CampaignEvent, Lead
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
    pytest.mark.skipif(not ON_POSTGRES, reason="the load run is for the production "
                       "database (set TEST_DATABASE_URL to a Postgres server)"),
]

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
CLIENTS = 6
SERVER_WORKERS = 4
MAX_REQUESTS_PER_CLIENT = 50_000
ANSWER_TIMEOUT = 15
OPERATIONS = ("list", "get", "create", "patch", "pause_resume", "leads")
WEIGHTS = (3, 3, 2, 2, 1, 1)


@pytest.fixture
def server(service_env, tmp_path):
    env = live_env(service_env, RATE_LIMIT="100000000/minute")
    with gunicorn(env, tmp_path, workers=SERVER_WORKERS) as base:
        yield base


class Client(threading.Thread):
    """One client's loop, bounded in time and in count; it keeps what it was told."""

    def __init__(self, number, base, key, shared):
        super().__init__(daemon=True)
        self.number, self.base, self.key, self.shared = number, base, key, shared
        self.deadline = None
        self.own = ready_campaign(base, key, f"Load client {number}")
        assert send(base, "POST", f"{CAMPAIGNS}/{self.own['id']}/send", key=key,
                    body={"action": "start"}).status == 200
        self.status = "active"
        self.random = random.Random(number)
        self.answers = Counter()  # (operation, status)
        self.unexpected = []  # (operation, status or error, body)
        self.created = []
        self.patched = 0  # 200 PATCHes of the shared campaign
        self.transitions = 0
        self.leads_added = 0

    def run(self):
        for count in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() > self.deadline:
                return
            operation = self.random.choices(OPERATIONS, WEIGHTS)[0]
            try:
                getattr(self, operation)(count)
            except OSError as error:  # no answer in time, or no connection
                self.unexpected.append((operation, repr(error), None))
            except Exception as error:  # an answer this client cannot read: stop, and say so
                self.unexpected.append((operation, repr(error), None))
                return

    def _send(self, operation, method, path, body=None, expected=200):
        answer = send(self.base, method, path, key=self.key, body=body, timeout=ANSWER_TIMEOUT)
        self.answers[operation, answer.status] += 1
        if answer.status != expected:
            self.unexpected.append((operation, answer.status, answer.raw[:300]))
            return None
        return answer.json["data"]

    def list(self, count):
        offset = self.random.choice([0, 0, 20])
        self._send("list", "GET", f"{CAMPAIGNS}?workspace={SLUG}&limit=20&offset={offset}")

    def get(self, count):
        self._send("get", "GET", f"{CAMPAIGNS}/{self.own['id']}")

    def create(self, count):
        data = self._send("create", "POST", CAMPAIGNS, expected=201,
                          body={"workspace_slug": SLUG, "name": f"Load {self.number}-{count}"})
        if data is not None:
            self.created.append(data["id"])

    def patch(self, count):
        data = self._send("patch", "PATCH", f"{CAMPAIGNS}/{self.shared}", body={
            "settings": {"from_name": f"Client {self.number} #{count}",
                         "daily_limit": 1 + count % 10000}})
        if data is not None:
            self.patched += 1

    def pause_resume(self, count):
        action = "pause" if self.status == "active" else "resume"
        data = self._send("pause_resume", "POST", f"{CAMPAIGNS}/{self.own['id']}/send",
                          body={"action": action})
        if data is not None:
            self.status = data["status"]
            self.transitions += 1

    def leads(self, count):
        size = 1 + count % 5
        data = self._send("leads", "POST", f"{CAMPAIGNS}/{self.own['id']}/leads", body={
            "leads": [{"email": f"c{self.number}.r{count}.l{i}@example.com"}
                      for i in range(size)]})
        if data is None:
            return
        if (data["added"], data["duplicates"], data["invalid"]) != (size, 0, []):
            self.unexpected.append(("leads", 200, data))
        self.leads_added += data["added"]


def test_mixed_traffic_has_no_server_errors_and_loses_no_writes(server, api_key, db_url):
    shared = create_campaign(server, api_key, "Shared by every client")
    clients = [Client(n, server, api_key, shared["id"]) for n in range(CLIENTS)]
    deadline = time.monotonic() + LOAD_SECONDS
    for client in clients:
        client.deadline = deadline
        client.start()
    for client in clients:
        client.join(LOAD_SECONDS + 2 * ANSWER_TIMEOUT)
    assert not any(client.is_alive() for client in clients), "a client did not finish"

    answers = sum((client.answers for client in clients), Counter())
    server_errors = {k: n for k, n in answers.items() if k[1] >= 500}
    assert not server_errors, server_errors
    unexpected = [u for client in clients for u in client.unexpected]
    assert not unexpected, unexpected[:20]
    # Every kind of request was made (the run was not empty or one-sided).
    assert {operation for operation, _ in answers} == set(OPERATIONS), answers

    created = [i for client in clients for i in client.created]
    with direct_database(db_url):
        stored_ids = {c.id for c in Campaign.select(Campaign.id)}
        stored_shared = Campaign.get_by_id(shared["id"])
        own = {client.own["id"]: client for client in clients}
        events = Counter(e.campaign_id for e in CampaignEvent.select().where(
            CampaignEvent.campaign.in_(list(own))))
        leads = Counter(lead.campaign_id for lead in Lead.select(Lead.campaign).where(
            Lead.campaign.in_(list(own))))
        statuses = {c.id: c.status for c in Campaign.select().where(Campaign.id.in_(list(own)))}

    missing = set(created) - stored_ids
    assert not missing, f"{len(missing)} of {len(created)} created campaigns are not stored"
    assert stored_shared.version == 1 + sum(client.patched for client in clients)
    for campaign_id, client in own.items():
        assert events[campaign_id] == 1 + client.transitions  # the start, then each move
        assert leads[campaign_id] == 1 + client.leads_added  # the first lead, then each add
        assert statuses[campaign_id] == client.status
