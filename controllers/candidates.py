"""Candidates: public applications, admin-only reading and editing (personal data)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from controllers.audit import ActorDep
from controllers.deps import AdminDep, NowDep, SessionDep
from model.candidate import CandidateStatus
from services import audit
from services import candidates as queries
from views.api.candidates import (
    CandidateCreate,
    CandidatePublic,
    CandidatesPublic,
    CandidateUpdate,
    check_adult,
)
from views.api.errors import error_responses
from views.api.params import CandidateId, Limit, Offset

router = APIRouter(prefix="/candidates", tags=["candidates"])
admin = APIRouter(prefix="/candidates", tags=["candidates"], dependencies=[AdminDep])


def _dump(data: CandidateCreate | CandidateUpdate) -> dict[str, object]:
    fields = data.model_dump(exclude_unset=True)
    if fields.get("photo_url") is not None:
        fields["photo_url"] = str(fields["photo_url"])
    return fields


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Apply to join the house",
    responses=error_responses(409, 422),
)
def apply(body: CandidateCreate, session: SessionDep, now: NowDep) -> CandidatePublic:
    """Anyone 18 or older may apply; a new candidate is an `applicant`. One application per
    email (409)."""
    check_adult(body.birth_date, now.date())
    return CandidatePublic.model_validate(queries.create_candidate(session, _dump(body), now))


@admin.get("", summary="List candidates", responses=error_responses(401, 422))
def list_candidates(
    session: SessionDep,
    status_: Annotated[CandidateStatus | None, Query(alias="status")] = None,
    state: Annotated[str | None, Query(description="UF, e.g. SP", max_length=2)] = None,
    q: Annotated[
        str | None, Query(description="Case-insensitive match on name or city", max_length=120)
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> CandidatesPublic:
    """Candidates in id order; `total` counts every candidate that matches the filters."""
    page, total = queries.list_candidates(
        session, status=status_, state=state, q=q, limit=limit, offset=offset
    )
    return CandidatesPublic(
        items=[CandidatePublic.model_validate(c) for c in page],
        total=total,
        limit=limit,
        offset=offset,
    )


@admin.get("/{candidate_id}", summary="Read a candidate", responses=error_responses(401, 404))
def read_candidate(candidate_id: CandidateId, session: SessionDep) -> CandidatePublic:
    return CandidatePublic.model_validate(queries.get_candidate(session, candidate_id))


@admin.patch(
    "/{candidate_id}",
    summary="Update a candidate (e.g. promote to housemate)",
    responses=error_responses(401, 404, 409, 422),
)
def update_candidate(
    candidate_id: CandidateId,
    body: CandidateUpdate,
    session: SessionDep,
    now: NowDep,
    actor: ActorDep,
) -> CandidatePublic:
    """Only the fields sent change, each validated as on application."""
    check_adult(body.birth_date, now.date())
    candidate = queries.update_candidate(session, candidate_id, _dump(body), now)
    audit.record(session, actor, "candidate.update", f"candidate:{candidate_id}", now)
    return CandidatePublic.model_validate(candidate)


@admin.delete(
    "/{candidate_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a candidate",
    responses=error_responses(401, 404, 409),
)
def delete_candidate(
    candidate_id: CandidateId, session: SessionDep, now: NowDep, actor: ActorDep
) -> Response:
    """A candidate who was ever a nominee cannot be deleted (409)."""
    queries.delete_candidate(session, candidate_id)
    audit.record(session, actor, "candidate.delete", f"candidate:{candidate_id}", now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
