"""Request and response schemas of paredões."""

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from model.candidate import Candidate
from model.paredao import (
    MAX_NOMINEES,
    MIN_NOMINEES,
    OutcomeKind,
    Paredao,
    ParedaoKind,
    ParedaoStatus,
    effective_status,
)
from views.api.candidates import NO_NUL
from views.api.params import Fraction, Id, Moment

# The new paredão the API documents (OpenAPI's example).
PAREDAO_EXAMPLE: dict[str, Any] = {
    "title": "4º Paredão",
    "kind": "eliminate",
    "nominee_ids": [1, 2, 3],
    "opens_at": "2026-11-22T01:00:00Z",
    "closes_at": "2026-11-25T01:30:00Z",
    "unico_weight": 0.5,
    "require_captcha": True,
}


class ParedaoCreate(BaseModel):
    """A new paredão: 2 to 4 distinct housemates, a kind, an optional schedule and weights."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PAREDAO_EXAMPLE]})

    title: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
    ]
    kind: ParedaoKind = Field(
        description=(
            "eliminate: the highest leaves; save: the lowest leaves; final: the highest wins."
        )
    )
    nominee_ids: list[Id] = Field(
        min_length=MIN_NOMINEES,
        max_length=MAX_NOMINEES,
        description="Ids of 2 to 4 distinct candidates, each a housemate.",
        json_schema_extra={"uniqueItems": True},
    )
    opens_at: Moment | None = Field(
        default=None, description="When voting opens by itself (ISO 8601 with zone)."
    )
    closes_at: Moment | None = Field(
        default=None, description="When voting closes by itself; must be after opens_at."
    )
    unico_weight: Fraction = Field(
        default=0.5,
        description="Weight of the voto único in the final percentage; torcida gets the rest.",
    )
    require_captcha: StrictBool = Field(
        default=True, description="Whether each vote needs a captcha token."
    )
    show_partial_results: StrictBool = Field(
        default=True, description="Whether voters see the percentages while voting is open."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        duplicates = sorted({i for i in self.nominee_ids if self.nominee_ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"nominee_ids must be distinct; repeated: {duplicates}")
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        return self


class ParedaoUpdate(BaseModel):
    """Move the end of voting; on a paredão that closed in a tie, this reopens the vote."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"closes_at": "2026-11-25T02:00:00Z"}]}
    )

    closes_at: Moment = Field(description="The new end of voting (in the future).")


class NomineePublic(BaseModel):
    candidate_id: int
    name: str
    photo_url: str | None


class ParedaoOutcome(BaseModel):
    kind: OutcomeKind = Field(description="pending until closed; then eliminated, winner or tie.")
    candidate_id: int | None = Field(
        description="Who leaves or wins; null while pending or tied (results list the tie)."
    )


class ParedaoPublic(BaseModel):
    id: int
    title: str
    kind: ParedaoKind
    status: ParedaoStatus = Field(description="The effective status at the time of the answer.")
    opens_at: datetime | None
    closes_at: datetime | None
    unico_weight: float
    torcida_weight: float
    require_captcha: bool
    show_partial_results: bool
    created_at: datetime
    nominees: list[NomineePublic]
    outcome: ParedaoOutcome = Field(description="Frozen when voting closes.")

    @classmethod
    def build(cls, paredao: Paredao, nominees: Sequence[Candidate], now: datetime) -> Self:
        assert paredao.id is not None
        # The paredão's own fields as stored and its derived torcida weight; the status as it
        # is `now`, its nominees and its outcome (pending until closed) as the public sees them.
        return cls.model_validate(
            {
                **paredao.model_dump(),
                "torcida_weight": paredao.torcida_weight,
                "status": effective_status(
                    paredao.status, paredao.opens_at, paredao.closes_at, now
                ),
                "nominees": [
                    NomineePublic(candidate_id=c.id or 0, name=c.name, photo_url=c.photo_url)
                    for c in nominees
                ],
                "outcome": ParedaoOutcome(
                    kind=paredao.outcome
                    if paredao.status == ParedaoStatus.closed and paredao.outcome
                    else OutcomeKind.pending,
                    candidate_id=paredao.outcome_candidate_id,
                ),
            }
        )


class ParedoesPublic(BaseModel):
    items: list[ParedaoPublic]
    total: int
    limit: int
    offset: int
