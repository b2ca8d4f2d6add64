"""The one shape of every error body."""

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable error code.", examples=["not_found"])
    detail: Any = Field(description="What went wrong, for a person; a list of field errors on 422.")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error body for each status code."""
    return {code: {"model": ErrorBody} for code in codes}
