"""The settings every test app starts from: the app's own table, with test values."""
from cryptography.fernet import Fernet

from app.config import Config

# One generated key per test run: no key is written into the code.
TEST_ENCRYPTION_KEY = Fernet.generate_key().decode()

TEST_SETTINGS = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    # Mail goes to the aiosmtpd server the sending fixtures start on loopback.
    "MAIL_BACKEND": "smtp",
    "ENCRYPTION_KEYS": [TEST_ENCRYPTION_KEY],
}


class TestConfig(Config):
    __test__ = False  # a settings class, not a test class pytest should collect

    def __init__(self, **overrides):
        super().__init__(**{**TEST_SETTINGS, **overrides})
