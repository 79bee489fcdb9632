"""The URL map: every blueprint and its prefix, here and nowhere else."""
from app.api.core import BEARER, Api

api = Api()


def init_app(app):
    api.init_app(app, spec_kwargs={
        "info": {"description": "Create email campaigns, give them steps and leads, "
                                "launch them and watch them send."},
        "security": [{BEARER: []}],
    })
    api.spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer",
                 "description": "An API key: `Authorization: Bearer sk_live_...`"})

    from app.api.campaigns.resources import blp as campaigns
    api.register_blueprint(campaigns, url_prefix="/api/v1/tenant/campaigns")
