"""Candidates (applications, "inscrições") and the rules of their status."""

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Column, Field, SQLModel

from model.base import UTCDateTime, enum_type
from model.errors import WrongTransition

# The 26 states and the Federal District.
# fmt: off
UFS = frozenset({
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
    "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
})
# fmt: on
MINIMUM_AGE = 18


class CandidateStatus(StrEnum):
    applicant = "applicant"
    housemate = "housemate"
    eliminated = "eliminated"
    winner = "winner"


# Which status a candidate may move to from each status. An eliminated housemate may come
# back to the house (a "repescagem"); a winner's story is over.
STATUS_TRANSITIONS: dict[CandidateStatus, frozenset[CandidateStatus]] = {
    CandidateStatus.applicant: frozenset({CandidateStatus.housemate}),
    CandidateStatus.housemate: frozenset({CandidateStatus.eliminated, CandidateStatus.winner}),
    CandidateStatus.eliminated: frozenset({CandidateStatus.housemate}),
    CandidateStatus.winner: frozenset(),
}


def check_status_change(current: CandidateStatus, new: CandidateStatus) -> None:
    """Raise `WrongTransition` unless a candidate may move from `current` to `new`."""
    if new != current and new not in STATUS_TRANSITIONS[current]:
        raise WrongTransition(f"a candidate cannot go from '{current}' to '{new}'")


def age_on(birth_date: date, today: date) -> int:
    """Whole years between `birth_date` and `today` (a 29 February birthday counts on 1 March)."""
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if had_birthday else 1)


class Candidate(SQLModel, table=True):
    __tablename__ = "candidates"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    # Stored lower-cased; the unique index is what makes a duplicate application a 409.
    email: str = Field(max_length=320, unique=True)
    birth_date: date
    state: str = Field(max_length=2, index=True)
    city: str = Field(max_length=120)
    bio: str = Field(default="", max_length=2000)
    photo_url: str | None = Field(default=None, max_length=2048)
    status: CandidateStatus = Field(
        default=CandidateStatus.applicant,
        sa_column=Column(enum_type(CandidateStatus), nullable=False, index=True),
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
