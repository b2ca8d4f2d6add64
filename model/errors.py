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


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class CaptchaFailed(Forbidden):
    code = "captcha_failed"


class VotingNotOpen(Conflict):
    code = "voting_not_open"


class CPFAlreadyVoted(Conflict):
    code = "cpf_already_voted"


class AccountAlreadyVoted(Conflict):
    code = "account_already_voted"


class DeviceAlreadyVoted(Conflict):
    """Anonymous mode: this voter_id (a device) cast all the votos únicos it may cast in a
    paredão (`PAREDAO_UNICO_PER_DEVICE`), whatever CPFs it sends."""

    code = "device_already_voted"


class VoteIdReused(Conflict):
    code = "vote_id_reused"


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: Any, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s


class Unavailable(DomainError):
    """The server sheds load, or could not make a vote durable: retry (with the same vote_id)."""

    status_code = 503
    code = "unavailable"

    def __init__(self, detail: Any, retry_after_s: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


# --- errors of the web pages' forms and the production session ---------------------------------


class UnsupportedForm(DomainError):
    status_code = 415
    code = "unsupported_form"


class NomineeMissing(Invalid):
    code = "nominee_missing"


class CPFMissing(Invalid):
    code = "cpf_missing"


class CaptchaNeedsJavaScript(Forbidden):
    code = "captcha_needs_javascript"


class LoginRequired(Unauthorized):
    code = "login_required"


class CSRFFailed(Forbidden):
    code = "csrf_failed"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"
