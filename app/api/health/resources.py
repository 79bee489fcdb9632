"""Liveness and readiness for load balancers and orchestrators (no API key)."""
import marshmallow as ma
from flask.views import MethodView

from app.api.core.blueprint import Blueprint
from app.api.core.schemas import Schema, envelope
from app.errors import ServiceUnavailable
from app.services import health as service

blp = Blueprint("health", __name__, authenticated=False, description="Health checks.")


class HealthSchema(Schema):
    """The service's state."""
    status = ma.fields.String(required=True, metadata={"example": "ok"})


HealthEnvelope = envelope(HealthSchema, "HealthEnvelope")


@blp.route("/healthz")
class Healthz(MethodView):
    @blp.doc(security=[], operationId="checkLiveness")
    @blp.response(200, HealthEnvelope)
    def get(self):
        """The process is alive (touches nothing else)

        For a liveness probe: 200 while the process answers, whatever the database does.
        """
        return {"success": True, "data": {"status": "ok"}}


@blp.route("/readyz")
class Readyz(MethodView):
    @blp.doc(security=[], operationId="checkReadiness")
    @blp.response(200, HealthEnvelope)
    @blp.errors(503)
    def get(self):
        """The database answers; 503 when it does not

        For a readiness probe: send traffic here only while this is 200.
        """
        if not service.database_ready():
            raise ServiceUnavailable("The database is not reachable.", code="database_unavailable",
                                     headers={"Retry-After": "5"})
        return {"success": True, "data": {"status": "ready"}}
