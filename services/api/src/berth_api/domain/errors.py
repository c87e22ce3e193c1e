"""API errors: a stable `id` for programs and a message for people."""


class ApiError(Exception):
    status = 400
    id = "bad_request"

    def __init__(self, message: str, *, id: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if id:
            self.id = id
        if status:
            self.status = status


class NotFound(ApiError):
    status = 404
    id = "not_found"


class Conflict(ApiError):
    status = 409
    id = "conflict"


class Unauthorized(ApiError):
    status = 401
    id = "unauthorized"


class PayloadTooLarge(ApiError):
    status = 413
    id = "payload_too_large"


class Forbidden(ApiError):
    status = 403
    id = "forbidden"
