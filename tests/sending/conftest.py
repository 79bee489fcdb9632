"""A real SMTP server on loopback (aiosmtpd), a dispatcher pointed at it, and a clock."""
import datetime as dt
import email
import re
import socket
from collections import Counter
from contextlib import contextmanager
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol

from app import clock, database
from app.mail.compose import Composer
from app.mail.mailers import SMTPMailer
from app.models import CampaignEvent
from app.worker import Dispatcher
from tests.conftest import BASE, SENDER

ALWAYS = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
          "start": "00:00", "end": "24:00"}
# A Monday, 10:00 UTC: inside the default Mon-Fri 09:00-17:00 window in UTC.
MONDAY_10 = dt.datetime(2026, 11, 30, 10, 0, 0)


class Inbox:
    """What the server received, and how it should answer the next recipients.

    With ``pipelining`` the server offers PIPELINING (RFC 2920), as most servers do.
    """

    def __init__(self, *, pipelining=False):
        self.pipelining = pipelining
        self.messages = []
        self.rcpt_replies = {}  # address -> "550 ..." / "451 ..."
        self.data_reply = None
        # Called with the envelope while the client waits for the answer to its DATA.
        self.on_data = None

    def parsed(self):
        return [email.message_from_bytes(m["data"], policy=policy.default)
                for m in self.messages]

    def to(self, address):
        return [m for m in self.parsed() if address in str(m["To"])]

    def counts(self):
        """How many times each (recipient, subject) was received."""
        return Counter((m["To"].addresses[0].addr_spec, str(m["Subject"]))
                       for m in self.parsed())

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]  # before the last line

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        if self.on_data:
            self.on_data(envelope)
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.original_content or envelope.content})
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(inbox):
    """Run an aiosmtpd server on loopback with ``inbox`` as its handler."""
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(),
                            decode_data=False)
    controller.start()
    inbox.port = controller.port
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_server():
    with serving(Inbox()) as inbox:
        yield inbox


@pytest.fixture
def frozen():
    """The clock pinned to a known Monday 10:00 UTC; move it with clock.advance()."""
    clock.freeze(MONDAY_10)
    return clock


@pytest.fixture
def dispatcher(app, smtp_server):
    return Dispatcher(mailer=SMTPMailer(host="127.0.0.1", port=smtp_server.port, timeout=5),
                      composer=Composer(base_url=app.config["BASE_URL"],
                                        secret=app.config["SECRET_KEY"]),
                      batch=50)


@pytest.fixture
def launch(api, create_campaign):
    """Create, configure, fill and start a campaign; returns its id."""
    def make(*, leads, sequence, settings=None, start=True):
        campaign = create_campaign()
        url = f"{BASE}/{campaign['id']}"
        body = {"sequence": sequence,
                "settings": {**SENDER, "schedule": ALWAYS, **(settings or {})}}
        response = api.patch(url, json=body)
        assert response.status_code == 200, response.json
        response = api.post(f"{url}/leads", json={"leads": leads})
        assert response.status_code == 200, response.json
        if start:
            response = api.post(f"{url}/send", json={"action": "start"})
            assert response.status_code == 200, response.json
        return campaign["id"]
    return make


def campaign(api, campaign_id):
    return api.get(f"{BASE}/{campaign_id}").json["data"]


def leads_of(api, campaign_id):
    return api.get(f"{BASE}/{campaign_id}/leads?limit=100").json["data"]


def lead_of(api, campaign_id, email_address):
    [lead] = [lead for lead in leads_of(api, campaign_id) if lead["email"] == email_address]
    return lead


def iso(moment):
    """A naive-UTC datetime as the API writes it."""
    return moment.isoformat(timespec="seconds") + "Z"


def text_of(msg):
    return msg.get_body(("plain",)).get_content()


def html_of(msg):
    return msg.get_body(("html",)).get_content()


def links_in(html, marker):
    """Every href/src in ``html`` whose URL contains ``marker``."""
    return [url.replace("&amp;", "&") for url in re.findall(r'(?:href|src)="([^"]+)"', html)
            if marker in url]


def path_of(url, base_url):
    """The path the test client requests for a public link built on ``base_url``."""
    assert url.startswith(base_url + "/"), url
    return url[len(base_url):]


def events_of(campaign_id):
    with database.connection():
        return [(e.action, e.from_status, e.to_status) for e in CampaignEvent.select()
                .where(CampaignEvent.campaign == campaign_id)
                .order_by(CampaignEvent.created_at, CampaignEvent.id)]


def _unused(_=SMTPProtocol):  # keep the protocol import for handlers that need it
    return _


def act(api, campaign_id, action):
    """POST /send with ``action``; asserts it was accepted."""
    response = api.post(f"{BASE}/{campaign_id}/send", json={"action": action})
    assert response.status_code == 200, response.json
    return response.json["data"]


def add_leads(api, campaign_id, leads):
    response = api.post(f"{BASE}/{campaign_id}/leads", json={"leads": leads})
    assert response.status_code == 200, response.json
    return response.json["data"]
