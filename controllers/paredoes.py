"""Paredões: admin creation and transitions, public reading."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from controllers.audit import ActorDep
from controllers.deps import AdminDep, ClockDep, LifecycleDep, NowDep, SessionDep
from model.paredao import ParedaoStatus
from services import paredoes as queries
from views.api.errors import error_responses
from views.api.params import Limit, Offset, ParedaoId
from views.api.paredoes import ParedaoCreate, ParedaoPublic, ParedaoUpdate, ParedoesPublic

router = APIRouter(prefix="/paredoes", tags=["paredões"])
admin = APIRouter(prefix="/paredoes", tags=["paredões"], dependencies=[AdminDep])


@admin.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a paredão",
    responses=error_responses(401, 422),
)
async def create_paredao(
    body: ParedaoCreate, lifecycle: LifecycleDep, now: NowDep, actor: ActorDep
) -> ParedaoPublic:
    """2 to 4 distinct housemates; 422 names any id that is not a housemate."""
    return ParedaoPublic.build(*await lifecycle.create(body.model_dump(), actor), now)


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
async def extend_voting(
    paredao_id: ParedaoId,
    body: ParedaoUpdate,
    lifecycle: LifecycleDep,
    now: NowDep,
    actor: ActorDep,
) -> ParedaoPublic:
    """Move `closes_at`. A paredão that closed in a tie reopens until then (a tie is never
    broken arbitrarily); one with a decided outcome cannot be reopened (409)."""
    return ParedaoPublic.build(*await lifecycle.extend(paredao_id, body.closes_at, actor), now)


@admin.post(
    "/{paredao_id}/open",
    summary="Open voting now",
    responses=error_responses(401, 404, 409),
)
async def open_paredao(
    paredao_id: ParedaoId, lifecycle: LifecycleDep, clock: ClockDep, actor: ActorDep
) -> ParedaoPublic:
    """`scheduled → open`; any other transition is a 409."""
    opened = await lifecycle.open(paredao_id, actor)
    return ParedaoPublic.build(*opened, clock())  # read after it opened: it reads open


@admin.post(
    "/{paredao_id}/close",
    summary="Close voting now",
    responses=error_responses(401, 404, 409, 503),
)
async def close_paredao(
    paredao_id: ParedaoId, lifecycle: LifecycleDep, now: NowDep, actor: ActorDep
) -> ParedaoPublic:
    """`open → closed`, freezing the outcome (in the answer); any other transition is a 409.
    This worker's next results and stats show the close at once; other workers within their
    cache time (about a second, `as_of` says how old).

    On the Kafka path the answer reads `closing` (outcome pending) until the consumer has
    decided every vote logged before the close; 503 if the log cannot take the close
    markers now (the paredão stays `closing`; ask again)."""
    return ParedaoPublic.build(*await lifecycle.close(paredao_id, actor), now)
