"""The sending fixtures (aiosmtpd on loopback, a dispatcher pointed at it, the clock)."""
from tests.sending.conftest import dispatcher, frozen, launch, smtp_server  # noqa: F401
