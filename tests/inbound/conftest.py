"""The sending tests' parts (loopback SMTP server, dispatcher, frozen clock) and the
inbound route's helpers, for the inbound tests here."""
from tests.sending.conftest import dispatcher, frozen, launch, smtp_server
from tests.sending.test_inbound import inbound, mailed

__all__ = ["dispatcher", "frozen", "inbound", "launch", "mailed", "smtp_server"]
