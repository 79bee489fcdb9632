"""The URL map: every blueprint and its prefix, here and nowhere else.

Two OpenAPI documents: /api/v1/openapi.json for API clients, and /api/v1/openapi-mail.json
for the routes mail reaches (the links in sent mail, the inbound route), which no API
client calls and no client SDK should hold.
"""
from flask import current_app, jsonify, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from app.api.core.auth import BEARER
from app.api.core.errors import Api
from app.api.headers_doc import ResponseHeadersPlugin, document_shared
from app.api.openapi import DocumentationPlugin, spec_kwargs

MAIL_DOCUMENT = "/api/v1/openapi-mail.json"


def _api(app, description, config_prefix="", **kwargs):
    documentation = DocumentationPlugin()
    api = Api(app, config_prefix=config_prefix,
              spec_kwargs={**spec_kwargs(description), **kwargs,
                           "extra_plugins": [documentation, ResponseHeadersPlugin()]})
    documentation.install(api.ma_plugin)
    return api


def init_app(app):
    """One Api per document and app (tests build many apps; each gets its own documents)."""
    from app.api.campaigns.resources import blp as campaigns
    from app.api.health.resources import blp as health
    from app.api.inbound.resources import INBOUND_SECURITY
    from app.api.inbound.resources import blp as inbound
    from app.api.leads.resources import blp as leads
    from app.api.mailboxes.resources import blp as mailboxes
    from app.api.suppressions.resources import blp as suppressions
    from app.api.tracking.resources import blp as tracking
    from app.api.webhooks.resources import blp as webhooks
    api = _api(app, "Create email campaigns, give them steps and leads, launch them and "
                    "watch them send. Every answer is JSON: `{\"success\": true, \"data\": "
                    "...}`, or `{\"success\": false, \"error\": {\"code\", \"message\", "
                    "\"details\"}}` with a `code` from the list under `ErrorBody`.",
               security=[{BEARER: []}])
    api.spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer",
                 "description": "An API key: `Authorization: Bearer sk_live_...`"})
    mail = _api(app, "The routes mail reaches: the open pixel, click redirects and "
                     "unsubscribe pages behind the links in sent mail, and the route your "
                     "mail provider posts inbound messages to. Not for API clients.",
                config_prefix="MAIL", title=f"{app.config['API_TITLE']}: mail routes",
                version=app.config["API_VERSION"],
                openapi_version=app.config["OPENAPI_VERSION"], security=[])
    mail.spec.components.security_scheme(
        INBOUND_SECURITY, {"type": "http", "scheme": "bearer",
                           "description": "The INBOUND_SECRET: `Authorization: Bearer ...`"})

    api.register_blueprint(campaigns, url_prefix="/api/v1/tenant/campaigns")
    api.register_blueprint(leads, url_prefix="/api/v1/tenant/campaigns")
    api.register_blueprint(webhooks, url_prefix="/api/v1/tenant/webhooks")
    api.register_blueprint(mailboxes, url_prefix="/api/v1/tenant/mailboxes")
    api.register_blueprint(suppressions, url_prefix="/api/v1/tenant/suppressions")
    api.register_blueprint(health, url_prefix="")
    mail.register_blueprint(inbound, url_prefix="/api/v1/inbound")
    mail.register_blueprint(tracking, url_prefix="")
    api.when_documented(document_shared)
    mail.when_documented(document_shared)
    app.extensions["openapi"] = api
    app.extensions["mail_openapi"] = mail
    app.add_url_rule(MAIL_DOCUMENT, "mail_openapi_json", mail_openapi_json)
    app.add_url_rule("/api/v1/docs/assets/<path:filename>", "swagger_ui_assets",
                     swagger_ui_asset)
    return api


def mail_openapi_json():
    """The mail routes' OpenAPI document."""
    return jsonify(current_app.extensions["mail_openapi"].spec.to_dict())


def swagger_ui_asset(filename):
    """Swagger UI's own files (OPENAPI_SWAGGER_UI_URL points here)."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
