"""Application errors: every failure a client can act on, with an HTTP status and a code.

Services raise these; the API layer turns them into the error envelope
``{"success": false, "error": {"code", "message", "details"}}``.
"""


class AppError(Exception):
    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message=None, *, code=None, details=None, headers=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        if code:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}

    def __init_subclass__(cls, *, status=None, code=None, message=None, **kwargs):
        """A kind names its status, code and default message on its class line."""
        super().__init_subclass__(**kwargs)
        for name, value in (("status", status), ("code", code), ("message", message)):
            if value is not None:
                setattr(cls, name, value)

    def to_dict(self):
        return {"code": self.code, "message": self.message, "details": self.details}


class BadRequest(AppError, status=400, code="bad_request"):
    """The request is malformed (the default kind)."""


class Unauthorized(AppError, status=401, code="unauthorized",
                   message="Send a valid API key as 'Authorization: Bearer <key>'."):
    """No API key, or not a valid one."""


class NotFound(AppError, status=404, code="not_found", message="The resource does not exist."):
    """Nothing of the tenant's has that id or slug."""


class Conflict(AppError, status=409, code="conflict"):
    """The resource's current state does not allow the change."""


class PreconditionFailed(AppError, status=412, code="precondition_failed"):
    """If-Match names a version the resource no longer has."""


class UnsupportedMediaType(AppError, status=415, code="unsupported_media_type"):
    """The body is not of the media type the route reads."""


class RateLimited(AppError, status=429, code="rate_limited",
                  message="Too many requests; slow down."):
    """A rate limit is spent."""


class ValidationFailed(AppError, status=422, code="validation_error",
                       message="The request has invalid fields; see details."):
    """Fields that parse but are not valid."""


class ServiceUnavailable(AppError, status=503, code="service_unavailable",
                         message="The service is temporarily unavailable; retry shortly."):
    """The database (or another part the server needs) is not there."""
