"""Aggregate queries behind results and stats, the recount, and freezing a closed paredão."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, type_coerce
from sqlmodel import Session

from db.certificates import certify
from db.votes import TALLY, VOTES
from model.base import UTCDateTime
from model.candidate import Candidate, CandidateStatus
from model.paredao import OutcomeKind, Paredao, ParedaoStatus
from model.results import Outcome, decide, tally
from model.vote import VoteMode

Counts = dict[tuple[int, VoteMode], int]
HourlyCounts = dict[tuple[int, VoteMode, datetime], int]


def counts_of(session: Session, paredao_id: int) -> Counts:
    """Votes per nominee and mode, summed over the hours of the tally."""
    rows = session.execute(
        select(TALLY.c.nominee_id, TALLY.c.mode, func.sum(TALLY.c.votes))
        .where(TALLY.c.paredao_id == paredao_id)
        .group_by(TALLY.c.nominee_id, TALLY.c.mode)
    )
    return {
        (
            nominee,
            VoteMode(mode),
        ): int(votes)
        for nominee, mode, votes in rows
    }


def hourly_of(session: Session, paredao_id: int) -> list[tuple[datetime, int, int]]:
    """(UTC hour, nominee, votes) in hour order; an hour is a full timestamp: days never merge."""
    rows = session.execute(
        select(TALLY.c.hour, TALLY.c.nominee_id, func.sum(TALLY.c.votes))
        .where(TALLY.c.paredao_id == paredao_id)
        .group_by(TALLY.c.hour, TALLY.c.nominee_id)
        .order_by(TALLY.c.hour, TALLY.c.nominee_id)
    )
    return [(hour, nominee, int(votes)) for hour, nominee, votes in rows]


def _hour_sql(session: Session) -> ColumnElement[Any]:
    accepted_at = VOTES.c.accepted_at
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        hour: ColumnElement[Any] = func.strftime("%Y-%m-%d %H:00:00.000000", accepted_at)
    else:
        hour = func.date_trunc("hour", accepted_at)
    return type_coerce(hour, UTCDateTime())


def tally_by_hour(session: Session, paredao_id: int) -> HourlyCounts:
    rows = session.execute(
        select(TALLY.c.nominee_id, TALLY.c.mode, TALLY.c.hour, func.sum(TALLY.c.votes))
        .where(TALLY.c.paredao_id == paredao_id)
        .group_by(TALLY.c.nominee_id, TALLY.c.mode, TALLY.c.hour)
    )
    return {(n, VoteMode(m), h): int(v) for n, m, h, v in rows if v}


def recount_by_hour(session: Session, paredao_id: int) -> HourlyCounts:
    """Every count again, from the raw vote rows (O(votes): an audit, not a read path)."""
    hour = _hour_sql(session).label("hour")
    rows = session.execute(
        select(VOTES.c.nominee_id, VOTES.c.mode, hour, func.count())
        .where(VOTES.c.paredao_id == paredao_id)
        .group_by(VOTES.c.nominee_id, VOTES.c.mode, hour)
    )
    return {(n, VoteMode(m), h): int(c) for n, m, h, c in rows}


def freeze(
    session: Session, paredao: Paredao, nominee_ids: Sequence[int], now: datetime
) -> Outcome:
    """Close `paredao` for good: decide the outcome from the tally, apply it to the nominee and
    build the paredão's certificate (`db.certificates`).

    Runs in the caller's transaction, which holds the paredão's row (and, on SQLite, the
    write lock), so no vote can be stored in between.
    """
    assert paredao.id is not None
    results = tally(nominee_ids, counts_of(session, paredao.id), paredao.unico_weight)
    finals = None if results[0].final is None else {r.candidate_id: r.final for r in results}
    outcome = decide(paredao.kind, finals, nominee_ids)  # type: ignore[arg-type]
    paredao.status = ParedaoStatus.closed
    paredao.outcome = outcome.kind
    paredao.outcome_candidate_id = outcome.candidate_id
    if outcome.candidate_id is not None:
        candidate = session.get(Candidate, outcome.candidate_id)
        assert candidate is not None
        candidate.status = (
            CandidateStatus.winner
            if outcome.kind == OutcomeKind.winner
            else CandidateStatus.eliminated
        )
        candidate.updated_at = now
    session.flush()
    certify(session, paredao, nominee_ids, outcome, now)
    return outcome
