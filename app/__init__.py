"""create_app(config=None): config -> logging -> database -> api -> cli. Wiring only."""
import logging

from flask import Flask

from app.config import Config


def create_app(config=None):
    config = config or Config()
    app = Flask(__name__)
    app.config.from_mapping(config.as_dict())
    app.json.sort_keys = False

    logging.basicConfig(level=app.config["LOG_LEVEL"])

    from app import database
    database.bind(app.config["DATABASE_URL"])
    database.init_app(app)

    from app import api
    api.init_app(app)

    from app import cli
    cli.init_app(app)
    return app
