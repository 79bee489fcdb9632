"""The mailbox fixtures (aiosmtpd with STARTTLS and AUTH for the mailboxes, another
aiosmtpd as the relay, a dispatcher allowed loopback, the clock) for the stamps."""
from tests.mailboxes.conftest import (  # noqa: F401
    app,
    certificate,
    dispatcher,
    frozen,
    mailbox,
    relay,
    smtp_server,
    start,
    trust_certificate,
)
