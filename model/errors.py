"""Domain errors: each carries the status code and the error code the API answers with."""

from typing import Any


class DomainError(Exception):
    """An error a user of the API can cause; rendered as `{"error": code, "detail": ...}`."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: Any, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Invalid(DomainError):
    status_code = 422
    code = "validation_error"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class DuplicateEmail(Conflict):
    code = "duplicate_email"


class WrongTransition(Conflict):
    code = "wrong_transition"


class CandidateInUse(Conflict):
    code = "candidate_in_use"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})
