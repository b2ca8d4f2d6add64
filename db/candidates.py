"""Queries on candidates."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from model.candidate import Candidate, CandidateStatus, check_status_change
from model.errors import CandidateInUse, DomainError, DuplicateEmail, NotFound


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@contextmanager
def _enforced_by_database(session: Session, error: DomainError) -> Iterator[None]:
    """Run the changes made in the block in a savepoint: a constraint the database enforces
    (unique email, the nominee foreign key) becomes `error`, and only the block is undone, so
    the request's unit of work stays usable by whoever handles the error."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        raise error from exc


def create_candidate(session: Session, fields: dict[str, Any], now: datetime) -> Candidate:
    """Store an application made at `now`; the unique index on email, not a prior read,
    rejects duplicates."""
    candidate = Candidate(**fields, created_at=now, updated_at=now)
    duplicate = DuplicateEmail(f"an application with email {fields['email']} already exists")
    with _enforced_by_database(session, duplicate):
        session.add(candidate)
    return candidate


def list_candidates(
    session: Session,
    *,
    status: CandidateStatus | None,
    state: str | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Candidate], int]:
    """One page of candidates in id order, and how many match the filters in all."""
    conditions = []
    if status is not None:
        conditions.append(col(Candidate.status) == status)
    if state is not None:
        conditions.append(col(Candidate.state) == state.strip().upper())
    if q:
        pattern = _like_pattern(q.strip())
        conditions.append(
            or_(
                func.lower(col(Candidate.name)).like(pattern, escape="\\"),
                func.lower(col(Candidate.city)).like(pattern, escape="\\"),
            )
        )
    total = session.exec(select(func.count()).select_from(Candidate).where(*conditions)).one()
    page = session.exec(
        select(Candidate).where(*conditions).order_by(col(Candidate.id)).limit(limit).offset(offset)
    ).all()
    return page, total


def get_candidate(session: Session, candidate_id: int) -> Candidate:
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise NotFound(f"candidate {candidate_id} does not exist")
    return candidate


def update_candidate(
    session: Session, candidate_id: int, changes: dict[str, Any], now: datetime
) -> Candidate:
    """Apply a partial update; a status change must follow the status rules."""
    candidate = get_candidate(session, candidate_id)
    if "status" in changes:
        check_status_change(candidate.status, changes["status"])
    duplicate = DuplicateEmail(f"an application with email {changes.get('email')} already exists")
    with _enforced_by_database(session, duplicate):
        for name, value in changes.items():
            setattr(candidate, name, value)
        candidate.updated_at = now
    return candidate


def delete_candidate(session: Session, candidate_id: int) -> None:
    """Delete a candidate; the foreign key from past nominations makes that a 409."""
    candidate = get_candidate(session, candidate_id)
    in_use = CandidateInUse(
        f"candidate {candidate_id} was a nominee in a paredão and cannot be deleted"
    )
    with _enforced_by_database(session, in_use):
        session.delete(candidate)
