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

    def to_dict(self):
        return {"code": self.code, "message": self.message, "details": self.details}


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    message = "Send a valid API key as 'Authorization: Bearer <key>'."


class NotFound(AppError):
    status = 404
    code = "not_found"
    message = "The resource does not exist."


class Conflict(AppError):
    status = 409
    code = "conflict"


class PreconditionFailed(AppError):
    status = 412
    code = "precondition_failed"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; slow down."


class ValidationFailed(AppError):
    status = 422
    code = "validation_error"
    message = "The request has invalid fields; see details."


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable; retry shortly."
