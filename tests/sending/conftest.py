"""A real SMTP server on loopback (aiosmtpd), a dispatcher pointed at it, and a clock."""
import datetime as dt
import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol

from app import clock
from app.sending.compose import Composer
from app.sending.dispatcher import Dispatcher
from app.sending.mailers import SMTPMailer
from tests.conftest import BASE, SENDER

ALWAYS = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
          "start": "00:00", "end": "24:00"}
# A Monday, 10:00 UTC: inside the default Mon-Fri 09:00-17:00 window in UTC.
MONDAY_10 = dt.datetime(2026, 11, 30, 10, 0, 0)


class Inbox:
    """What the server received, and how it should answer the next recipients."""

    def __init__(self):
        self.messages = []
        self.rcpt_replies = {}  # address -> "550 ..." / "451 ..."
        self.data_reply = None

    def parsed(self):
        return [email.message_from_bytes(m["data"], policy=policy.default)
                for m in self.messages]

    def to(self, address):
        return [m for m in self.parsed() if address in str(m["To"])]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.original_content or envelope.content})
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(),
                            decode_data=False)
    controller.start()
    inbox.port = controller.port
    try:
        yield inbox
    finally:
        controller.stop()


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


def _unused(_=SMTPProtocol):  # keep the protocol import for handlers that need it
    return _
