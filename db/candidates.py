"""Queries on candidates."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from model.candidate import Candidate, CandidateStatus, check_status_change
from model.errors import CandidateInUse, DuplicateEmail, NotFound


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def create_candidate(session: Session, fields: dict[str, Any]) -> Candidate:
    """Store an application; the unique index on email, not a prior read, rejects duplicates."""
    candidate = Candidate(**fields)
    session.add(candidate)
    try:
        session.flush()
    except IntegrityError as exc:
        raise DuplicateEmail(f"an application with email {fields['email']} already exists") from exc
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
    for name, value in changes.items():
        setattr(candidate, name, value)
    candidate.updated_at = now
    try:
        session.flush()
    except IntegrityError as exc:
        raise DuplicateEmail(
            f"an application with email {changes.get('email')} already exists"
        ) from exc
    return candidate


def delete_candidate(session: Session, candidate_id: int) -> None:
    """Delete a candidate; the foreign key from past nominations makes that a 409."""
    candidate = get_candidate(session, candidate_id)
    session.delete(candidate)
    try:
        session.flush()
    except IntegrityError as exc:
        raise CandidateInUse(
            f"candidate {candidate_id} was a nominee in a paredão and cannot be deleted"
        ) from exc
