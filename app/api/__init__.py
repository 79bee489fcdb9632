"""The URL map: every blueprint and its prefix, here and nowhere else."""
from flask import send_from_directory
from swagger_ui_bundle import swagger_ui_path

from app.api.core.auth import BEARER
from app.api.core.errors import Api
from app.api.headers_doc import ResponseHeadersPlugin, document_shared


def init_app(app):
    """One Api per app (tests build many apps; each gets its own OpenAPI document)."""
    api = Api(app, spec_kwargs={
        "info": {"description": "Create email campaigns, give them steps and leads, "
                                "launch them and watch them send."},
        "security": [{BEARER: []}],
        "extra_plugins": [ResponseHeadersPlugin()],
    })
    api.spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer",
                 "description": "An API key: `Authorization: Bearer sk_live_...`"})

    api.spec.components.security_scheme(
        "inboundSecret", {"type": "http", "scheme": "bearer",
                          "description": "The INBOUND_SECRET: `Authorization: Bearer ...`"})

    from app.api.campaigns.resources import blp as campaigns
    from app.api.health.resources import blp as health
    from app.api.inbound.resources import blp as inbound
    from app.api.leads.resources import blp as leads
    from app.api.mailboxes.resources import blp as mailboxes
    from app.api.suppressions.resources import blp as suppressions
    from app.api.tracking.resources import blp as tracking
    from app.api.webhooks.resources import blp as webhooks
    api.register_blueprint(campaigns, url_prefix="/api/v1/tenant/campaigns")
    api.register_blueprint(leads, url_prefix="/api/v1/tenant/campaigns")
    api.register_blueprint(webhooks, url_prefix="/api/v1/tenant/webhooks")
    api.register_blueprint(mailboxes, url_prefix="/api/v1/tenant/mailboxes")
    api.register_blueprint(suppressions, url_prefix="/api/v1/tenant/suppressions")
    api.register_blueprint(inbound, url_prefix="/api/v1/inbound")
    api.register_blueprint(tracking, url_prefix="")
    api.register_blueprint(health, url_prefix="")
    document_shared(api.spec)
    app.add_url_rule("/api/v1/docs/assets/<path:filename>", "swagger_ui_assets",
                     swagger_ui_asset)
    return api


def swagger_ui_asset(filename):
    """Swagger UI's own files (OPENAPI_SWAGGER_UI_URL points here)."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
