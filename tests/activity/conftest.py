"""A loopback SMTP server, a dispatcher, the inbound route and a real webhook receiver,
for the tests of a campaign's activity log and a lead's detail."""
import pytest

from app import clock
from app.mail.compose import Composer
from app.mail.mailers import SMTPMailer
from app.worker import Dispatcher
from tests.sending.conftest import launch, smtp_server
from tests.sending.test_inbound import inbound
from tests.webhooks.conftest import app, create_webhook, receiver

__all__ = ["app", "create_webhook", "inbound", "launch", "receiver", "smtp_server"]

ONE_STEP = [{"subject": "Hello {{firstName}}", "body": "Hi {{firstName}}"}]
GRACE, ALAN = "grace@example.com", "alan@example.com"
LEADS = [{"email": GRACE, "first_name": "Grace"}, {"email": ALAN, "first_name": "Alan"}]


@pytest.fixture
def frozen():
    """Near real time, so receivers accept the signed timestamps; moved by hand."""
    clock.freeze(clock.now())
    return clock


@pytest.fixture
def worker(app, smtp_server):
    return Dispatcher(mailer=SMTPMailer(host="127.0.0.1", port=smtp_server.port, timeout=5),
                      composer=Composer(base_url=app.config["BASE_URL"],
                                        secret=app.config["SECRET_KEY"]),
                      batch=50, webhook_allow_http=True, webhook_allow_private=True)
