"""A real HTTP receiver on loopback, and apps that may deliver to it; the sending tests'
loopback SMTP server and campaign launcher, and the inbound route, for the tests of the
events a campaign's life emits."""
import http.server
import threading

import pytest
from flask.testing import FlaskClient
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from app import database
from tests.conftest import _release
from tests.sending.conftest import launch, smtp_server
from tests.sending.test_inbound import inbound

__all__ = ["inbound", "launch", "smtp_server"]

URL = "/api/v1/tenant/webhooks"


class Receiver:
    """Records every POST; answers with the next of ``statuses`` (the last one repeats).
    With ``secret`` set, every request is verified by the standardwebhooks library."""

    def __init__(self):
        self.requests = []
        self.statuses = [204]
        self.location = None
        self.secret = None
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _handler(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                verified = None
                if receiver.secret is not None:
                    try:
                        verified = Verifier(receiver.secret).verify(body, headers)
                    except WebhookVerificationError as exc:
                        verified = exc
                status = (receiver.statuses.pop(0) if len(receiver.statuses) > 1
                          else receiver.statuses[0])
                receiver.requests.append({"path": self.path, "headers": headers,
                                          "body": body, "verified": verified,
                                          "answered": status})
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


class Client(FlaskClient):
    """A request hands its pooled connection back (Postgres); the test, like a worker
    between passes, keeps one open for the service calls and checks that follow."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        database.db.connect(reuse_if_open=True)
        return response


@pytest.fixture
def app(make_app):
    """Tests deliver to loopback over http, so both SSRF guards are lifted here."""
    app = make_app(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE=True)
    app.test_client_class = Client
    with database.connection():
        yield app
    _release(database.db.obj)


@pytest.fixture
def create_webhook(api, tenant):
    def create(url, **fields):
        body = {"workspace_slug": tenant.slug, "url": url, **fields}
        response = api.post(URL, json=body)
        assert response.status_code == 201, response.json
        return response.json["data"]
    return create
