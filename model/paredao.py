"""Paredões (elimination rounds), their nominees, and the rules of their schedule."""

from datetime import datetime
from enum import StrEnum

from sqlmodel import Column, Field, ForeignKey, Integer, SQLModel, String

from model.base import UTCDateTime, enum_type
from model.errors import WrongTransition
from model.keys import KEY_ID_LENGTH

MIN_NOMINEES = 2
MAX_NOMINEES = 4


class ParedaoKind(StrEnum):
    eliminate = "eliminate"  # the highest final percentage leaves the house
    save = "save"  # "voto para ficar": the lowest final percentage leaves
    final = "final"  # the highest final percentage wins the season


class OutcomeKind(StrEnum):
    pending = "pending"  # voting has not closed
    eliminated = "eliminated"
    winner = "winner"
    tie = "tie"  # equal deciding percentages: never broken arbitrarily


class ParedaoStatus(StrEnum):
    scheduled = "scheduled"
    open = "open"
    # The Kafka path only: voting has ended, and the consumer is still deciding the votes the
    # log holds from before `closes_at`; the result is frozen when it has decided them all.
    closing = "closing"
    closed = "closed"


def effective_status(
    stored: ParedaoStatus,
    opens_at: datetime | None,
    closes_at: datetime | None,
    now: datetime,
) -> ParedaoStatus:
    """The status a paredão has at `now`, given the one stored and its schedule.

    A paredão whose `opens_at` has passed counts as open without an explicit `open`, and one
    whose `closes_at` has passed counts as closed without an explicit `close`.
    """
    if stored in (ParedaoStatus.closed, ParedaoStatus.closing):
        return stored
    if closes_at is not None and now >= closes_at:
        return ParedaoStatus.closed
    if stored == ParedaoStatus.open or (opens_at is not None and now >= opens_at):
        return ParedaoStatus.open
    return ParedaoStatus.scheduled


def status_at_cast(
    stored: ParedaoStatus,
    opens_at: datetime | None,
    closes_at: datetime | None,
    cast_at: datetime,
) -> ParedaoStatus:
    """The status that decides a vote cast at `cast_at`: a vote counts only inside
    `[opens_at, closes_at)` and while its result is not frozen, however late it is stored (a
    `closing` paredão still takes the votes cast before its close)."""
    if stored == ParedaoStatus.closed or (closes_at is not None and cast_at >= closes_at):
        return ParedaoStatus.closed
    if opens_at is not None and cast_at < opens_at:
        return ParedaoStatus.scheduled
    if stored in (ParedaoStatus.open, ParedaoStatus.closing) or opens_at is not None:
        return ParedaoStatus.open
    return ParedaoStatus.scheduled


def check_transition(current: ParedaoStatus, new: ParedaoStatus) -> None:
    """Only `scheduled → open`, `open → closed` and, on the Kafka path, `open → closing →
    closed` exist (a close may be asked again while closing); anything else is a 409."""
    allowed = {
        (ParedaoStatus.scheduled, ParedaoStatus.open),
        (ParedaoStatus.open, ParedaoStatus.closed),
        (ParedaoStatus.open, ParedaoStatus.closing),
        (ParedaoStatus.closing, ParedaoStatus.closing),
        (ParedaoStatus.closing, ParedaoStatus.closed),
    }
    if (current, new) not in allowed:
        raise WrongTransition(f"a paredão that is '{current}' cannot become '{new}'")


class Paredao(SQLModel, table=True):
    __tablename__ = "paredoes"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    kind: ParedaoKind = Field(sa_column=Column(enum_type(ParedaoKind), nullable=False))
    # The status as last set by an admin; read it through `effective_status`.
    status: ParedaoStatus = Field(
        default=ParedaoStatus.scheduled,
        sa_column=Column(enum_type(ParedaoStatus), nullable=False, index=True),
    )
    opens_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    closes_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    unico_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    require_captcha: bool = True
    show_partial_results: bool = True
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Frozen when the paredão is closed (by an admin, or on the first read after closes_at).
    outcome: OutcomeKind | None = Field(
        default=None, sa_column=Column(enum_type(OutcomeKind), nullable=True)
    )
    outcome_candidate_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("candidates.id"), nullable=True)
    )
    # The id of the CPF key its votos únicos are hashed with for life (`model.keys`): the one
    # in force when it was created. None: created before key ids, hashed with the key of the
    # secret in force then (`Keys.legacy_cpf_key_id`).
    cpf_key_id: str | None = Field(
        default=None, sa_column=Column(String(KEY_ID_LENGTH), nullable=True)
    )

    @property
    def torcida_weight(self) -> float:
        return 1.0 - self.unico_weight


class ParedaoNominee(SQLModel, table=True):
    __tablename__ = "paredao_nominees"

    paredao_id: int = Field(
        sa_column=Column(Integer, ForeignKey("paredoes.id", ondelete="CASCADE"), primary_key=True)
    )
    # RESTRICT: a candidate who was ever a nominee cannot be deleted (the database says so).
    candidate_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("candidates.id", ondelete="RESTRICT"), primary_key=True
        )
    )
    position: int = Field(ge=0, lt=MAX_NOMINEES)
