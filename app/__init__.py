"""create_app(config=None): config -> logging -> limits -> database -> api -> cli. Wiring only."""
from flask import Flask, request
from flask.sessions import SessionInterface

from app.config import Config

NO_DATABASE_PREFIXES = ("/api/v1/openapi.json", "/api/v1/docs")


class NoSessions(SessionInterface):
    """Every request carries its API key: no cookie session is read, signed or written."""

    def open_session(self, app, request):
        return None  # Flask then uses its null session

    def save_session(self, app, session, response):
        return None


class App(Flask):
    """Flask without cookie sessions, which this API has no use for: with a SECRET_KEY
    set, Flask builds a signing serializer for every request to open a session no route
    uses. Responses are encoded by app.api.core.json.JSONProvider.
    """

    session_interface = NoSessions()

    def __init__(self, *args, **kwargs):
        from app.api.core.json import JSONProvider
        self.json_provider_class = JSONProvider
        super().__init__(*args, **kwargs)


def create_app(config=None):
    config = config or Config()
    app = App(__name__)
    app.config.from_mapping(config.as_dict())

    from app.api import requestlog
    requestlog.configure(app.config["LOG_LEVEL"])
    requestlog.init_app(app)

    # Before the database: an address over its budget of failed authentications is
    # refused without touching it.
    from app.api import limits
    limits.init_app(app)

    from app import crypto
    crypto.configure(app.config["ENCRYPTION_KEYS"])

    from app import database
    database.bind(app.config["DATABASE_URL"],
                  statement_timeout_ms=app.config["DATABASE_STATEMENT_TIMEOUT_MS"])
    # Liveness must answer even when the database does not, and the API's documents
    # (OpenAPI, Swagger UI and its files) touch no table either.
    database.init_app(app, skip=lambda: request.path == "/healthz"
                      or request.path.startswith(NO_DATABASE_PREFIXES))

    from app import api
    api.init_app(app)
    limits.init_tenant_budget(app)

    from app import cli
    cli.init_app(app)
    return app
