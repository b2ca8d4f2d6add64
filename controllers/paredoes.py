"""Paredões: admin creation and transitions, public reading."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from controllers.audit import ActorDep
from controllers.deps import (
    AdminDep,
    ClockDep,
    ClosingDep,
    NowDep,
    ResultsDep,
    SessionDep,
    VotingDep,
    after_commit,
    forget,
)
from db import paredoes as queries
from model.paredao import ParedaoStatus
from services import audit
from views.errors import error_responses
from views.params import Limit, Offset, ParedaoId
from views.paredoes import ParedaoCreate, ParedaoPublic, ParedaoUpdate, ParedoesPublic

router = APIRouter(prefix="/paredoes", tags=["paredões"])
admin = APIRouter(prefix="/paredoes", tags=["paredões"], dependencies=[AdminDep])


@admin.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a paredão",
    responses=error_responses(401, 422),
)
def create_paredao(
    body: ParedaoCreate, session: SessionDep, now: NowDep, actor: ActorDep
) -> ParedaoPublic:
    """2 to 4 distinct housemates; 422 names any id that is not a housemate."""
    paredao, nominees = queries.create_paredao(session, body.model_dump(), now)
    audit.record(session, actor, "paredao.create", f"paredao:{paredao.id}", now)
    return ParedaoPublic.build(paredao, nominees, now)


@router.get("", summary="List paredões")
def list_paredoes(
    session: SessionDep,
    now: NowDep,
    status_: Annotated[
        ParedaoStatus | None, Query(alias="status", description="Effective status to filter by")
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> ParedoesPublic:
    """Newest first, each with its effective status (the schedule applied to the stored one)."""
    page, total = queries.list_paredoes(
        session, status=status_, now=now, limit=limit, offset=offset
    )
    return ParedoesPublic(
        items=[ParedaoPublic.build(p, nominees, now) for p, nominees in page],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{paredao_id}", summary="Read a paredão", responses=error_responses(404))
def read_paredao(
    paredao_id: ParedaoId, session: SessionDep, now: NowDep, response: Response
) -> ParedaoPublic:
    """A browser (Accept: text/html) gets the vote page at this address instead."""
    response.headers["Vary"] = "Accept"
    paredao, nominees = queries.get_paredao(session, paredao_id)
    return ParedaoPublic.build(paredao, nominees, now)


@admin.patch(
    "/{paredao_id}",
    summary="Extend (or shorten) voting",
    responses=error_responses(401, 404, 409, 422),
)
def extend_voting(
    paredao_id: ParedaoId,
    body: ParedaoUpdate,
    session: SessionDep,
    now: NowDep,
    results: ResultsDep,
    voting: VotingDep,
    actor: ActorDep,
) -> ParedaoPublic:
    """Move `closes_at`. A paredão that closed in a tie reopens until then (a tie is never
    broken arbitrarily); one with a decided outcome cannot be reopened (409)."""
    paredao, nominees = queries.extend_voting(session, paredao_id, body.closes_at, now)
    audit.record(session, actor, "paredao.update", f"paredao:{paredao_id}", now)
    after_commit(session, lambda: forget(paredao_id, results, voting))
    return ParedaoPublic.build(paredao, nominees, now)


@admin.post(
    "/{paredao_id}/open",
    summary="Open voting now",
    responses=error_responses(401, 404, 409),
)
def open_paredao(
    paredao_id: ParedaoId,
    session: SessionDep,
    clock: ClockDep,
    results: ResultsDep,
    voting: VotingDep,
    actor: ActorDep,
) -> ParedaoPublic:
    """`scheduled → open`; any other transition is a 409."""
    paredao, nominees = queries.change_status(session, paredao_id, ParedaoStatus.open, clock)
    audit.record(session, actor, "paredao.open", f"paredao:{paredao_id}", clock())
    after_commit(session, lambda: forget(paredao_id, results, voting))
    return ParedaoPublic.build(paredao, nominees, clock())


@admin.post(
    "/{paredao_id}/close",
    summary="Close voting now",
    responses=error_responses(401, 404, 409, 503),
)
async def close_paredao(
    paredao_id: ParedaoId, closing: ClosingDep, now: NowDep, actor: ActorDep
) -> ParedaoPublic:
    """`open → closed`, freezing the outcome (in the answer); any other transition is a 409.
    This worker's next results and stats show the close at once; other workers within their
    cache time (about a second, `as_of` says how old).

    On the Kafka path the answer reads `closing` (outcome pending) until the consumer has
    decided every vote logged before the close; 503 if the log cannot take the close
    markers now (the paredão stays `closing`; ask again)."""
    paredao, nominees = await closing.close(paredao_id, actor)
    return ParedaoPublic.build(paredao, nominees, now)
