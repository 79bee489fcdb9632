"""The settings every test app starts from: the app's own table, with test values."""
from app.config import Config

TEST_SETTINGS = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    # Mail goes to the aiosmtpd server the sending fixtures start on loopback.
    "MAIL_BACKEND": "smtp",
}


class TestConfig(Config):
    __test__ = False  # a settings class, not a test class pytest should collect

    def __init__(self, **overrides):
        super().__init__(**{**TEST_SETTINGS, **overrides})
