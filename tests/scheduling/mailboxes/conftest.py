"""The mailbox fixtures for the stamps: the mailboxes' server (aiosmtpd with STARTTLS
and AUTH, answering each recipient as the test says), another aiosmtpd as the relay, a
dispatcher allowed loopback, the clock."""
import ssl

import pytest
from aiosmtpd.controller import Controller

from tests.mailboxes.conftest import (  # noqa: F401
    _authenticator,
    app,
    certificate,
    dispatcher,
    free_port,
    frozen,
    mailbox,
    relay,
    start,
    trust_certificate,
)
from tests.sending.conftest import Inbox


@pytest.fixture
def smtp_server(trust_certificate):  # noqa: F811 - the imported fixture
    """The mailboxes' server: its ``handler`` is an Inbox (``messages``, ``rcpt_replies``)."""
    cert, key = trust_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port(),
                            authenticator=_authenticator, auth_require_tls=True,
                            tls_context=context, require_starttls=True)
    controller.start()
    yield controller
    controller.stop()
