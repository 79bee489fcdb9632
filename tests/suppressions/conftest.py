"""The activity tests' loopback SMTP server, dispatcher and webhook receiver."""
from tests.activity.conftest import (
    app,
    create_webhook,
    frozen,
    inbound,
    launch,
    receiver,
    smtp_server,
    worker,
)

__all__ = ["app", "create_webhook", "frozen", "inbound", "launch", "receiver",
           "smtp_server", "worker"]
