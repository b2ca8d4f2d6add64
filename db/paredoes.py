"""Queries on paredões and their nominees."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, func, literal, text
from sqlmodel import Session, col, select

from db.results import freeze
from model.base import UTCDateTime
from model.candidate import Candidate, CandidateStatus
from model.clock import Clock
from model.errors import Invalid, NotFound, WrongTransition
from model.paredao import (
    OutcomeKind,
    Paredao,
    ParedaoNominee,
    ParedaoStatus,
    check_transition,
    effective_status,
)

ParedaoWithNominees = tuple[Paredao, list[Candidate]]

# The execution option that carries the id of the CPF key in force to `create_paredao`, the way
# `db.engine.SQLITE_BEGIN` carries SQLite's BEGIN mode: set once on the app's engine.
CPF_KEY_OPTION = "paredao_cpf_key_id"


def with_cpf_key(engine: Engine, cpf_key_id: str) -> Engine:
    """The same engine, whose units of work create paredões pinned to the CPF key
    `cpf_key_id` (`model.keys`)."""
    return engine.execution_options(**{CPF_KEY_OPTION: cpf_key_id})


def effective_status_sql(now: datetime) -> ColumnElement[str]:
    """`model.paredao.effective_status` as a SQL expression, for filtering in the database."""
    at = literal(now, UTCDateTime())
    return case(
        (
            col(Paredao.status) == ParedaoStatus.closing,
            literal(ParedaoStatus.closing.value),
        ),
        (
            (col(Paredao.status) == ParedaoStatus.closed)
            | (col(Paredao.closes_at).is_not(None) & (col(Paredao.closes_at) <= at)),
            literal(ParedaoStatus.closed.value),
        ),
        (
            (col(Paredao.status) == ParedaoStatus.open)
            | (col(Paredao.opens_at).is_not(None) & (col(Paredao.opens_at) <= at)),
            literal(ParedaoStatus.open.value),
        ),
        else_=literal(ParedaoStatus.scheduled.value),
    )


def _nominees_of(session: Session, paredao_ids: Sequence[int]) -> dict[int, list[Candidate]]:
    rows = session.exec(
        select(ParedaoNominee.paredao_id, Candidate)
        .join(Candidate, col(Candidate.id) == col(ParedaoNominee.candidate_id))
        .where(col(ParedaoNominee.paredao_id).in_(paredao_ids))
        .order_by(col(ParedaoNominee.paredao_id), col(ParedaoNominee.position))
    ).all()
    nominees: dict[int, list[Candidate]] = {i: [] for i in paredao_ids}
    for paredao_id, candidate in rows:
        nominees[paredao_id].append(candidate)
    return nominees


def vote_partition(paredao_id: int) -> str:
    """The name of the table holding a paredão's votes on PostgreSQL."""
    return f"votes_p{int(paredao_id)}"


def _create_vote_partition(session: Session, paredao_id: int) -> None:
    """On PostgreSQL, give the paredão its own partition of `votes`, in the transaction that
    stores the paredão; SQLite has no partitions. (Creating it locks `votes` briefly: a
    writer's batch in flight finishes first, and the next one waits for this commit.)"""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.connection().execute(
        text(
            f"CREATE TABLE {vote_partition(paredao_id)} PARTITION OF votes "
            f"FOR VALUES IN ({int(paredao_id)})"
        )
    )


def create_paredao(session: Session, fields: dict[str, Any], now: datetime) -> ParedaoWithNominees:
    """Store a paredão, created at `now`, whose nominees are 2–4 distinct housemates (422
    naming any other). It hashes its CPFs for life with the CPF key in force now, which the
    session's engine names (`with_cpf_key`)."""
    cpf_key_id = session.connection().get_execution_options().get(CPF_KEY_OPTION)
    if not isinstance(cpf_key_id, str):
        raise RuntimeError("paredões are created through an engine made by db.with_cpf_key")
    nominee_ids: list[int] = fields.pop("nominee_ids")
    found = {
        c.id: c
        for c in session.exec(select(Candidate).where(col(Candidate.id).in_(nominee_ids))).all()
    }
    for candidate_id in nominee_ids:
        candidate = found.get(candidate_id)
        if candidate is None:
            raise Invalid(f"nominee {candidate_id} is not a candidate")
        if candidate.status != CandidateStatus.housemate:
            raise Invalid(
                f"nominee {candidate_id} ({candidate.name}) is not a housemate "
                f"(status '{candidate.status}')"
            )
    paredao = Paredao(**fields, created_at=now, cpf_key_id=cpf_key_id)
    session.add(paredao)
    session.flush()
    assert paredao.id is not None
    _create_vote_partition(session, paredao.id)
    session.add_all(
        ParedaoNominee(paredao_id=paredao.id, candidate_id=candidate_id, position=position)
        for position, candidate_id in enumerate(nominee_ids)
    )
    session.flush()
    return paredao, [found[i] for i in nominee_ids]


def get_paredao(
    session: Session, paredao_id: int, *, for_update: bool = False
) -> ParedaoWithNominees:
    statement = select(Paredao).where(col(Paredao.id) == paredao_id)
    if for_update:
        statement = statement.with_for_update()
    paredao = session.exec(statement).first()
    if paredao is None:
        raise NotFound(f"paredão {paredao_id} does not exist")
    return paredao, _nominees_of(session, [paredao_id])[paredao_id]


def list_paredoes(
    session: Session, *, status: ParedaoStatus | None, now: datetime, limit: int, offset: int
) -> tuple[list[ParedaoWithNominees], int]:
    """One page of paredões, newest first, filtered by their effective status at `now`."""
    conditions = [] if status is None else [effective_status_sql(now) == status.value]
    total = session.exec(select(func.count()).select_from(Paredao).where(*conditions)).one()
    paredoes = session.exec(
        select(Paredao)
        .where(*conditions)
        .order_by(col(Paredao.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    nominees = _nominees_of(session, [p.id for p in paredoes if p.id is not None])
    return [(p, nominees[p.id or 0]) for p in paredoes], total


def change_status(
    session: Session, paredao_id: int, new: ParedaoStatus, clock: Clock
) -> ParedaoWithNominees:
    """Open or close a paredão now (409 on any other transition).

    Opening now moves a later `opens_at` to now; closing now moves a later `closes_at` to now,
    so that the schedule and the status never disagree. "Now" is read from `clock` once this
    transaction holds the paredão's row (and, on SQLite, the write lock): every vote already
    stored was cast before it, so each counted vote has `accepted_at < closes_at`, and every
    vote stored after it is judged against the close.
    """
    paredao, nominees = get_paredao(session, paredao_id, for_update=True)
    now = clock()
    current = effective_status(paredao.status, paredao.opens_at, paredao.closes_at, now)
    check_transition(current, new)
    if new == ParedaoStatus.open:
        paredao.status = new
        if paredao.opens_at is None or paredao.opens_at > now:
            paredao.opens_at = now
    else:
        if paredao.closes_at is None or paredao.closes_at > now:
            paredao.closes_at = now
        freeze(session, paredao, [c.id for c in nominees if c.id is not None], now)
    session.flush()
    return paredao, nominees


def finalize_if_due(session: Session, paredao_id: int, now: datetime) -> None:
    """Freeze a paredão whose `closes_at` has passed but that nobody has closed yet."""
    paredao, nominees = get_paredao(session, paredao_id, for_update=True)
    due = effective_status(paredao.status, paredao.opens_at, paredao.closes_at, now)
    if paredao.status != ParedaoStatus.closed and due == ParedaoStatus.closed:
        freeze(session, paredao, [c.id for c in nominees if c.id is not None], now)


def extend_voting(
    session: Session, paredao_id: int, closes_at: datetime, now: datetime
) -> ParedaoWithNominees:
    """Move a paredão's `closes_at` (to extend or shorten voting).

    A paredão that closed in a tie is reopened until the new `closes_at`: a tie is never
    broken arbitrarily, the production extends the vote. One that closed with a decided
    outcome cannot be reopened (409).
    """
    finalize_if_due(session, paredao_id, now)
    paredao, nominees = get_paredao(session, paredao_id, for_update=True)
    if closes_at <= now:
        raise Invalid("closes_at must be in the future")
    if paredao.opens_at is not None and closes_at <= paredao.opens_at:
        raise Invalid("closes_at must be after opens_at")
    if paredao.status == ParedaoStatus.closed:
        if paredao.outcome != OutcomeKind.tie:
            raise WrongTransition(
                f"paredão {paredao_id} is decided ({paredao.outcome}): only a tie can be extended"
            )
        paredao.status = ParedaoStatus.open
        paredao.outcome = None
        paredao.outcome_candidate_id = None
    paredao.closes_at = closes_at
    session.flush()
    return paredao, nominees


def begin_closing(session: Session, paredao_id: int, clock: Clock) -> ParedaoWithNominees:
    """The Kafka path's close: voting ends now (or at its scheduled `closes_at`, if that has
    passed) and the paredão reads `closing` until the consumer has decided every vote logged
    before the close; the consumer then freezes the result. Asking again while closing is
    allowed (the markers are written again); any other transition is a 409."""
    paredao, nominees = get_paredao(session, paredao_id, for_update=True)
    now = clock()  # read under the row lock, like `change_status`
    if paredao.status == ParedaoStatus.closing:
        return paredao, nominees
    current = effective_status(paredao.status, paredao.opens_at, paredao.closes_at, now)
    if current == ParedaoStatus.closed and paredao.status != ParedaoStatus.closed:
        current = ParedaoStatus.open  # its schedule ended it: it closes now, through the log
    check_transition(current, ParedaoStatus.closing)
    if paredao.closes_at is None or paredao.closes_at > now:
        paredao.closes_at = now
    paredao.status = ParedaoStatus.closing
    session.flush()
    return paredao, nominees


def due_to_close(session: Session, now: datetime) -> list[int]:
    """Paredões whose `closes_at` has passed and whose close has not begun (the Kafka path
    closes them through the log)."""
    rows = session.exec(
        select(Paredao.id).where(
            col(Paredao.status).in_([ParedaoStatus.open, ParedaoStatus.scheduled]),
            col(Paredao.closes_at).is_not(None),
            col(Paredao.closes_at) <= literal(now, UTCDateTime()),
        )
    ).all()
    return [int(i) for i in rows if i is not None]


def closing_paredoes(session: Session) -> list[int]:
    """Paredões that read `closing`: their close markers may still need writing."""
    rows = session.exec(select(Paredao.id).where(col(Paredao.status) == ParedaoStatus.closing))
    return [int(i) for i in rows.all() if i is not None]
