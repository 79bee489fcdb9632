"""Configuration: one table of settings, read once from the environment.

Every setting is one row of ``SETTINGS``: its name (also the environment variable), its
type, its default and what it means. Adding a setting is one row here and one row in
the README's configuration table (``tests/test_readme.py`` holds the two together).
"""
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Signs click and unsubscribe links on a laptop only: servers refuse to start with it.
DEV_SECRET_KEY = "dev-only-secret-change-me"


# ---- one small reader per type ----------------------------------------------------------
# Each turns the environment's text into a value; an empty value counts as unset.

def _str(text):
    return text


def _int(text):
    return int(text)


def _float(text):
    return float(text)


def _bool(text):
    return text.strip().lower() in ("1", "true", "yes", "on")


def _list(text):
    """Comma-separated, blanks dropped: ``" a , , b,"`` is ``["a", "b"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


READERS = {str: _str, int: _int, float: _float, bool: _bool, list: _list}
TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool", list: "list of str"}


@dataclass(frozen=True)
class Computed:
    """A default worked out from the settings above it; ``shown`` is how the docs put it."""
    shown: str
    compute: object  # callable(values so far) -> value


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: object
    meaning: str
    env: bool = True  # False: a constant of the app, not read from the environment
    tidy: object = None  # optional callable applied to the value read or defaulted

    def read(self, environ, values):
        text = environ.get(self.name) if self.env else None
        if text is None or text == "":
            value = self.default
            if isinstance(value, Computed):
                value = value.compute(values)
            elif isinstance(value, list):
                value = list(value)
        else:
            try:
                value = READERS[self.type](text)
            except ValueError:
                raise ValueError(f"{self.name} must be {TYPE_NAMES[self.type]}, "
                                 f"not {text!r}") from None
        return self.tidy(value) if self.tidy and value is not None else value

    @property
    def shown_default(self):
        """The default as the README's table writes it."""
        if isinstance(self.default, Computed):
            return f"computed: {self.default.shown}"
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, list):
            return ",".join(self.default) or "empty"
        return str(self.default)


S = Setting
SETTINGS = (
    S("VAR_DIR", str, Computed("<repo>/var", lambda v: str(ROOT / "var")),
      "Directory for the laptop database and the file outbox."),
    S("DATABASE_URL", str,
      Computed("sqlite:///$VAR_DIR/campaigns.db",
               lambda v: f"sqlite:///{Path(v['VAR_DIR']) / 'campaigns.db'}"),
      "peewee database URL: sqlite:///path or postgresql+pool://...?max_connections=N."),
    # The default only suits a laptop; production sets its own (docs/operations.md).
    S("SECRET_KEY", str, DEV_SECRET_KEY,
      "Encrypts tracking and unsubscribe links; required outside APP_ENV=development."),
    S("APP_ENV", str, None, "development lets the servers start with the development SECRET_KEY."),
    S("DATABASE_STATEMENT_TIMEOUT_MS", int, 5000,
      "Postgres cancels a longer statement and the API answers 503; 0: never."),
    S("SECRET_KEY_FALLBACKS", list, [],
      "Earlier SECRET_KEYs, comma-separated: links signed with them still work."),
    S("ENCRYPTION_KEYS", list, [],
      "Fernet keys, comma-separated: the first encrypts mailbox passwords and webhook "
      "secrets, all decrypt."),
    S("BASE_URL", str, "http://127.0.0.1:8000",
      "Public root of the service, used in tracking and unsubscribe links.",
      tidy=lambda url: url.rstrip("/")),
    S("MAX_CONTENT_LENGTH", int, 1024 * 1024, "Largest request body, in bytes."),
    S("LOG_LEVEL", str, "INFO", "Level of the JSON request log."),
    S("RATE_LIMIT", str, "600/minute",
      "Requests per tenant, all its keys together (limits notation)."),
    S("RATE_LIMIT_STORAGE_URI", str, "memory://",
      "Where rate-limit counters live; memory:// counts per worker process, "
      "redis://host:6379 shares them between workers and nodes."),
    S("AUTH_FAILURE_RATE_LIMIT", str, "30/minute",
      "Failed authentications per client address; over it, 429 before any lookup."),
    S("TRUSTED_PROXIES", int, 0,
      "Reverse proxies whose X-Forwarded-For is trusted (0: the socket's peer)."),

    # Sending
    S("MAIL_BACKEND", str, "file", "smtp, or file (writes .eml files to OUTBOX_DIR)."),
    S("OUTBOX_DIR", str, Computed("$VAR_DIR/outbox", lambda v: str(Path(v["VAR_DIR"]) / "outbox")),
      "Where the file backend writes messages."),
    S("SMTP_HOST", str, "127.0.0.1", "SMTP relay host."),
    S("SMTP_PORT", int, 25, "SMTP relay port."),
    S("SMTP_USERNAME", str, None, "SMTP login, if the relay wants one."),
    S("SMTP_PASSWORD", str, None, "SMTP password."),
    S("SMTP_STARTTLS", bool, False, "Upgrade the SMTP connection with STARTTLS."),
    S("SMTP_SSL", bool, False, "Connect to the relay over TLS from the start."),
    S("SMTP_TIMEOUT", int, 30, "SMTP socket timeout, in seconds."),
    S("INBOUND_SECRET", str, None,
      "Shared secret for the inbound reply/bounce endpoint; unset turns it off."),
    S("DISPATCH_BATCH", int, 100, "Leads one dispatcher pass claims at a time."),
    S("DISPATCH_INTERVAL", float, 5.0, "Seconds the dispatcher sleeps between passes."),
    S("MAILBOX_TEST_TIMEOUT", float, 10.0,
      "Seconds a mailbox connection test may take for each server."),
    S("MAILBOX_ALLOW_PRIVATE", bool, False,
      "Development only: mailbox servers may be loopback or private addresses."),
    S("WEBHOOK_ALLOW_HTTP", bool, False, "Development only: webhook URLs may be http."),
    S("WEBHOOK_ALLOW_PRIVATE", bool, False,
      "Development only: webhooks may be delivered to loopback and private addresses."),
    S("RENDER_SECONDS", float, 1.0, "Time one message's templates may take to render."),
    S("RENDER_MAX_BYTES", int, 256 * 1024, "Largest rendered subject or body, in bytes."),

    # flask-smorest / OpenAPI: constants of the app, not read from the environment.
    S("API_TITLE", str, "Campaigns API", "OpenAPI title.", env=False),
    S("API_VERSION", str, "v1", "OpenAPI version of the API.", env=False),
    S("OPENAPI_VERSION", str, "3.0.3", "OpenAPI document version.", env=False),
    S("OPENAPI_URL_PREFIX", str, "/api/v1", "Where the OpenAPI files are served.", env=False),
    S("OPENAPI_JSON_PATH", str, "openapi.json", "The OpenAPI document's path.", env=False),
    S("OPENAPI_SWAGGER_UI_PATH", str, "docs", "Swagger UI's path.", env=False),
    # Swagger UI's files are served from here (swagger-ui-bundle), not from a CDN: the
    # docs work offline and send no reader to a third party.
    S("OPENAPI_SWAGGER_UI_URL", str, "/api/v1/docs/assets/", "Swagger UI's assets.",
      env=False),
)
del S


class Config:
    """The settings, read from the environment when made; keyword overrides win.

    An override also feeds the computed defaults below it (``Config(VAR_DIR=...)`` moves
    the default database), and any other upper-case keyword becomes a setting as is.
    """

    def __init__(self, environ=None, **overrides):
        environ = os.environ if environ is None else environ
        values = {}
        for setting in SETTINGS:
            if setting.name in overrides:
                values[setting.name] = overrides[setting.name]
            else:
                values[setting.name] = setting.read(environ, values)
        values.update(overrides)
        for key, value in values.items():
            setattr(self, key, value)

    def as_dict(self):
        return {k: v for k, v in vars(self).items() if k.isupper()}

