"""Request and response schemas of votes, results and stats."""

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from model.ballot import Accepted
from model.paredao import OutcomeKind, ParedaoStatus
from model.ratelimit import TORCIDA_LIMIT
from model.vote import VoteMode, VoteStatus
from model.voter import MAX_VOTER_ID, normalize_voter_id
from views.api.params import Id


class FromDomain(BaseModel):
    """A public answer, made of the object a service returned (the same fields)."""

    @classmethod
    def of(cls, answer: object) -> Self:
        return cls.model_validate(answer, from_attributes=True)


class VoteCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "nominee_id": 1,
                    "mode": "torcida",
                    "voter_id": "device-7f3a",
                    "captcha_token": "eyJhbGdvcml0aG0iOiAiU0hBLTI1NiJ9",
                },
                {
                    "nominee_id": 2,
                    "mode": "unico",
                    "voter_id": "device-7f3a",
                    "cpf": "529.982.247-25",
                    "vote_id": "019a8f2e-5b7c-7d1e-9a3b-2c4d5e6f7a8b",
                    "captcha_token": "eyJhbGdvcml0aG0iOiAiU0hBLTI1NiJ9",
                },
            ]
        },
    )

    nominee_id: Id = Field(description="The candidate_id of one of the paredão's nominees.")
    mode: VoteMode = Field(
        description=f"unico: one per CPF; torcida: up to {TORCIDA_LIMIT} a minute."
    )
    voter_id: Annotated[
        str,
        StringConstraints(min_length=1, max_length=MAX_VOTER_ID),
        AfterValidator(normalize_voter_id),
    ] = Field(
        description="The voter's (device's or account's) id; the rate limit is per voter_id. "
        "Compared in canonical form (NFKC, case-folded, trimmed); control and invisible "
        "characters are refused (422)."
    )
    cpf: Annotated[str, StringConstraints(max_length=20)] | None = Field(
        default=None, description="Required for unico, with or without mask; never stored."
    )
    vote_id: uuid.UUID | None = Field(
        default=None,
        description="Idempotency key: sending the same vote again counts it once.",
    )
    captcha_token: (
        Annotated[str, StringConstraints(max_length=2000, pattern="^[A-Za-z0-9+/]*={0,2}$")] | None
    ) = Field(
        default=None,
        description="The solved challenge from GET /captcha/challenge (base64 JSON).",
    )


class VoteAccepted(BaseModel):
    vote_id: uuid.UUID
    paredao_id: int
    nominee_id: int
    mode: VoteMode
    accepted_at: datetime = Field(
        description="When the API took the vote (it counts at this time)."
    )
    status: VoteStatus = Field(
        description="counted: committed to the database (the direct path); queued: in the "
        "replicated log, decided by the consumer (the Kafka path)."
    )

    @classmethod
    def of(cls, accepted: Accepted) -> Self:
        return cls.model_validate(accepted, from_attributes=True)


def accepted_json(accepted: Accepted) -> bytes:
    """`VoteAccepted.of(accepted)` as JSON, byte for byte, without building the model: the
    vote door answers thousands of these a second."""
    at = accepted.accepted_at.isoformat().replace("+00:00", "Z")
    return (
        f'{{"vote_id":"{accepted.vote_id}","paredao_id":{accepted.paredao_id},'
        f'"nominee_id":{accepted.nominee_id},"mode":"{accepted.mode.value}",'
        f'"accepted_at":"{at}","status":"{accepted.status.value}"}}'
    ).encode()


class VoteStatusPublic(FromDomain):
    vote_id: uuid.UUID
    paredao_id: int
    status: VoteStatus = Field(
        description="queued: in the log, not decided yet (Kafka path); counted: stored and in "
        "the results; refused: decided against, see reason."
    )
    nominee_id: int | None = Field(description="Null while queued.")
    mode: VoteMode | None = Field(description="Null while queued.")
    accepted_at: datetime | None = Field(
        description="When the API took the vote; null while queued."
    )
    reason: str | None = Field(
        default=None,
        description="Why it was refused: cpf_already_voted, device_already_voted, "
        "account_already_voted, rate_limited, voting_not_open, captcha_failed, "
        "vote_id_reused, not_found.",
    )
    detail: str | None = None


class Percentages(BaseModel):
    unico: float | None = Field(description="Percent of the votos únicos; null with none.")
    torcida: float | None = Field(description="Percent of the votos da torcida; null with none.")
    final: float | None = Field(description="Weighted average of the modes that have votes.")


class NomineeResults(BaseModel):
    candidate_id: int
    name: str
    percent: Percentages


class OutcomePublic(BaseModel):
    kind: OutcomeKind
    candidate_id: int | None = Field(description="Who leaves or wins; null while pending or tied.")
    tied_candidate_ids: list[int] = Field(default_factory=list)


class ResultsPublic(FromDomain):
    paredao_id: int
    status: ParedaoStatus
    total_votes: int
    closes_at: datetime | None
    as_of: datetime = Field(description="When these numbers were read (they may be ~1 s old).")
    nominees: list[NomineeResults]
    outcome: OutcomePublic


class ModeVotes(BaseModel):
    unico: int
    torcida: int
    total: int


class NomineeStats(BaseModel):
    candidate_id: int
    name: str
    votes: ModeVotes


class HourlyVotes(BaseModel):
    hour: datetime = Field(description="Start of the UTC hour.")
    candidate_id: int
    votes: int


class StatsPublic(FromDomain):
    paredao_id: int
    total_votes: int
    as_of: datetime
    nominees: list[NomineeStats]
    hourly: list[HourlyVotes]


class RecountPublic(FromDomain):
    paredao_id: int
    matches: bool = Field(description="Whether the tally equals the count of the raw votes.")
    tally_total: int
    recount_total: int
    differences: list[dict[str, object]]


class ReplayPublic(FromDomain):
    paredao_id: int
    matches: bool = Field(
        description="Whether deciding the log's votes again gives the stored tally."
    )
    log_votes: int = Field(description="Votes of this paredão in the log (replays included).")
    tally_total: int
    replay_total: int
    differences: list[dict[str, object]]
