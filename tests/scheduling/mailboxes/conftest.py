"""The mailbox fixtures for the stamps: the mailboxes' server (aiosmtpd with STARTTLS
and AUTH, answering each recipient as the test says), another aiosmtpd as the relay, a
dispatcher allowed loopback, the clock."""
import pytest

from tests.mailboxes.conftest import (  # noqa: F401
    app,
    certificate,
    dispatcher,
    frozen,
    mailbox,
    mailbox_smtp,
    relay,
    start,
    trust_certificate,
)
from tests.sending.conftest import Inbox


@pytest.fixture
def smtp_server(trust_certificate):  # noqa: F811 - the imported fixture
    """The mailboxes' server: its ``handler`` is an Inbox (``messages``, ``rcpt_replies``)."""
    with mailbox_smtp(Inbox(), trust_certificate) as controller:
        yield controller
