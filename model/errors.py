"""Domain errors: each carries the status code and the error code the API answers with.

`ERRORS_BY_CODE` lists every one by its code, so that a process that hears of an error only
by its code (the vote writer's socket) rebuilds the same error: `error_from_code`. The web
pages' own errors (forms, the production's session) are the controllers'
(`controllers/page_errors.py`)."""

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


class InvalidCPF(Invalid):
    code = "invalid_cpf"


class CPFKeyMissing(DomainError):
    """The paredão hashes its CPFs with a key this server does not hold: a voto único would
    be hashed differently from the ones already stored, so it is refused, never guessed."""

    status_code = 503
    code = "cpf_key_missing"


ERRORS_BY_CODE: dict[str, type[DomainError]] = {
    cls.code: cls
    for cls in (
        DomainError,
        NotFound,
        Invalid,
        InvalidCPF,
        Conflict,
        DuplicateEmail,
        WrongTransition,
        CandidateInUse,
        Unauthorized,
        Forbidden,
        CaptchaFailed,
        VotingNotOpen,
        CPFAlreadyVoted,
        AccountAlreadyVoted,
        DeviceAlreadyVoted,
        VoteIdReused,
        RateLimited,
        Unavailable,
        CPFKeyMissing,
    )
}


def error_from_code(code: str, detail: Any, retry_after_s: int | None = None) -> DomainError:
    """The domain error whose code is `code`, with `detail` (and, for the errors that answer
    with Retry-After, `retry_after_s`, 1 s when not given). A code no error has is a
    `KeyError`: codes come only from this registry."""
    cls = ERRORS_BY_CODE[code]
    if issubclass(cls, RateLimited | Unavailable):
        return cls(detail, 1 if retry_after_s is None else retry_after_s)
    return cls(detail)
