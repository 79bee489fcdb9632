"""create_app(config=None): config -> logging -> limits -> database -> api -> cli. Wiring only."""
import types

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
    """Flask without two per-request costs this API has no use for.

    * Cookie sessions: with a SECRET_KEY set, Flask builds a signing serializer for
      every request to open a session no route uses.
    * ``ensure_sync`` asks ``inspect`` whether each hook and view is a coroutine
      function, about twenty times a request. For a plain function that is not one,
      Flask hands the function back as it is, and the answer never changes: each is
      asked once. Anything else (a bound method, a coroutine function) goes to Flask.

    Responses are encoded by app.api.core.JSONProvider.
    """

    session_interface = NoSessions()

    def __init__(self, *args, **kwargs):
        from app.api.core import JSONProvider
        self.json_provider_class = JSONProvider
        super().__init__(*args, **kwargs)
        self._plain = set()

    def ensure_sync(self, func):
        if func in self._plain:
            return func
        synced = super().ensure_sync(func)
        if synced is func and type(func) is types.FunctionType:
            self._plain.add(func)
        return synced


def create_app(config=None):
    config = config or Config()
    app = App(__name__)
    app.config.from_mapping(config.as_dict())

    from app.api import requestlog
    requestlog.configure(app.config["LOG_LEVEL"])
    requestlog.init_app(app)

    # Before the database: a request over its limit is refused without touching it.
    from app.api import limits
    limits.init_app(app)

    from app import crypto
    crypto.configure(app.config["ENCRYPTION_KEYS"])

    from app import database
    database.bind(app.config["DATABASE_URL"])
    # Liveness must answer even when the database does not, and the API's documents
    # (OpenAPI, Swagger UI and its files) touch no table either.
    database.init_app(app, skip=lambda: request.path == "/healthz"
                      or request.path.startswith(NO_DATABASE_PREFIXES))

    from app import api
    api.init_app(app)

    from app import cli
    cli.init_app(app)
    return app
