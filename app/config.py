"""Configuration, read once from the environment with defaults that serve a laptop."""
import os
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("VAR_DIR", ROOT / "var"))


def _bool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    def __init__(self, **overrides):
        env = os.environ.get
        self.DATABASE_URL = env("DATABASE_URL") or f"sqlite:///{VAR / 'campaigns.db'}"
        # The default only suits a laptop; production sets its own (see README).
        self.SECRET_KEY = env("SECRET_KEY") or "dev-only-secret-change-me"
        # Earlier SECRET_KEYs, comma-separated: links signed with them still work.
        self.SECRET_KEY_FALLBACKS = [k.strip() for k in (env("SECRET_KEY_FALLBACKS") or "")
                                     .split(",") if k.strip()]
        # Fernet keys, comma-separated: the first encrypts mailbox passwords, all decrypt.
        self.ENCRYPTION_KEYS = [k.strip() for k in (env("ENCRYPTION_KEYS") or "").split(",")
                                if k.strip()]
        self.BASE_URL = (env("BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 1024 * 1024)
        self.LOG_LEVEL = env("LOG_LEVEL") or "INFO"
        self.RATE_LIMIT = env("RATE_LIMIT") or "600/minute"
        self.RATE_LIMIT_STORAGE_URI = env("RATE_LIMIT_STORAGE_URI") or "memory://"

        # Sending
        self.MAIL_BACKEND = env("MAIL_BACKEND") or "file"
        self.OUTBOX_DIR = env("OUTBOX_DIR") or str(VAR / "outbox")
        self.SMTP_HOST = env("SMTP_HOST") or "127.0.0.1"
        self.SMTP_PORT = _int("SMTP_PORT", 25)
        self.SMTP_USERNAME = env("SMTP_USERNAME") or None
        self.SMTP_PASSWORD = env("SMTP_PASSWORD") or None
        self.SMTP_STARTTLS = _bool("SMTP_STARTTLS", False)
        self.SMTP_SSL = _bool("SMTP_SSL", False)
        self.SMTP_TIMEOUT = _int("SMTP_TIMEOUT", 30)
        self.INBOUND_SECRET = env("INBOUND_SECRET") or None
        self.DISPATCH_BATCH = _int("DISPATCH_BATCH", 100)
        self.DISPATCH_INTERVAL = float(env("DISPATCH_INTERVAL") or 5)
        self.MAILBOX_TEST_TIMEOUT = float(env("MAILBOX_TEST_TIMEOUT") or 10)

        # flask-smorest / OpenAPI
        self.API_TITLE = "Campaigns API"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/api/v1"
        self.OPENAPI_JSON_PATH = "openapi.json"
        self.OPENAPI_SWAGGER_UI_PATH = "docs"
        # Swagger UI's files are served from here (swagger-ui-bundle), not from a CDN: the
        # docs work offline and send no reader to a third party.
        self.OPENAPI_SWAGGER_UI_URL = "/api/v1/docs/assets/"
        for key, value in overrides.items():
            setattr(self, key, value)

    def as_dict(self):
        return {k: v for k, v in vars(self).items() if k.isupper()}


class TestConfig(Config):
    def __init__(self, **overrides):
        super().__init__(**overrides)
        self.TESTING = True
        self.SECRET_KEY = overrides.get("SECRET_KEY", "test-secret")
        self.MAIL_BACKEND = overrides.get("MAIL_BACKEND", "smtp")
        self.ENCRYPTION_KEYS = overrides.get("ENCRYPTION_KEYS", [TEST_ENCRYPTION_KEY])


# One generated key per test run: no key is written into the code.
TEST_ENCRYPTION_KEY = Fernet.generate_key().decode()
