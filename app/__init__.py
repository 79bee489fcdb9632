"""create_app(config=None): config -> logging -> limits -> database -> api -> cli. Wiring only."""
from flask import Flask, request

from app.config import Config


def create_app(config=None):
    config = config or Config()
    app = Flask(__name__)
    app.config.from_mapping(config.as_dict())
    app.json.sort_keys = False

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
