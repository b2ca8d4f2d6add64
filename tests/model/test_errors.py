"""The registry of domain errors by code: every error of the model, rebuilt the same."""

import pytest

import model
from model.errors import (
    ERRORS_BY_CODE,
    CPFKeyMissing,
    DomainError,
    InvalidCPF,
    RateLimited,
    Unauthorized,
    Unavailable,
    VotingNotOpen,
    error_from_code,
)


def _subclasses(cls: type[DomainError]) -> set[type[DomainError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


class TestRegistry:
    def test_every_error_of_the_model_is_there_by_its_own_code(self) -> None:
        of_the_model = {
            cls
            for cls in _subclasses(DomainError) | {DomainError}
            if cls.__module__.startswith(f"{model.__name__}.")
        }
        assert {InvalidCPF, CPFKeyMissing} <= of_the_model
        assert set(ERRORS_BY_CODE.values()) == of_the_model
        assert all(code == cls.code for code, cls in ERRORS_BY_CODE.items())

    def test_codes_are_unique(self) -> None:
        codes = [
            cls.code for cls in _subclasses(DomainError) if cls.__module__.startswith("model.")
        ]
        assert len(codes) == len(set(codes))

    @pytest.mark.parametrize("code", sorted(ERRORS_BY_CODE))
    def test_rebuilt_error_answers_as_the_original(self, code: str) -> None:
        error = error_from_code(code, "why it was refused", retry_after_s=7)
        assert type(error) is ERRORS_BY_CODE[code]
        assert (error.code, error.detail) == (code, "why it was refused")

    def test_retry_after_travels(self) -> None:
        limited = error_from_code("rate_limited", "slow down", retry_after_s=42)
        assert isinstance(limited, RateLimited)
        assert (limited.retry_after_s, limited.headers) == (42, {"Retry-After": "42"})
        busy = error_from_code("unavailable", "busy")
        assert isinstance(busy, Unavailable)
        assert busy.headers == {"Retry-After": "1"}

    def test_headers_of_the_error_itself_are_kept(self) -> None:
        error = error_from_code("unauthorized", "no token")
        assert isinstance(error, Unauthorized)
        assert error.headers == {"WWW-Authenticate": "Bearer"}
        assert isinstance(error_from_code("voting_not_open", "closed"), VotingNotOpen)

    def test_unknown_code_is_refused(self) -> None:
        with pytest.raises(KeyError):
            error_from_code("no_such_code", "?")
