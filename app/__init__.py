"""create_app(config=None): config -> logging -> limits -> database -> api -> cli. Wiring only."""
import types

from flask import Flask, request
from flask.sessions import SessionInterface

from app.config import Config


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
      function, about twenty times a request; for a plain function the answer never
      changes, so it is kept (bound methods, made per request, are asked each time).
    """

    session_interface = NoSessions()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._synced = {}

    def ensure_sync(self, func):
        if type(func) is not types.FunctionType:
            return super().ensure_sync(func)
        synced = self._synced.get(func)
        if synced is None:
            synced = self._synced[func] = super().ensure_sync(func)
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

    from app import database
    database.bind(app.config["DATABASE_URL"])
    # Liveness must answer even when the database does not.
    database.init_app(app, skip=lambda: request.path == "/healthz")

    from app import api
    api.init_app(app)

    from app import cli
    cli.init_app(app)
    return app
