"""Votes: casting one, its status, results (public), stats, recount and replay (admin).
The captcha challenge a vote may need is `controllers.captcha`'s.

`POST /paredoes/{id}/votes` takes the live burst, and FastAPI's generic machinery (the
middlewares, routing through every route, dependency solving, response validation) costs
more than storing the vote; so the vote door (`controllers.vote_door`) serves it in front of
the middlewares: the same path, `VoteCreate` model, `VotingService` and 202 JSON as the
documented route below. Anything it does not handle itself (a body that fails validation,
another content type) comes to that route with the body replayed, so errors and docs stay
exactly those of the route.
"""

import asyncio
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from pydantic import BaseModel

from controllers.audit import ActorDep
from controllers.deps import (
    AdminDep,
    NowDep,
    ReplayDep,
    ResultsDep,
    SessionDep,
    VotingDep,
)
from model.ballot import Accepted
from services import audit
from views.api.errors import error_responses
from views.api.params import ParedaoId
from views.api.votes import (
    RecountPublic,
    ReplayPublic,
    ResultsPublic,
    StatsPublic,
    VoteAccepted,
    VoteCreate,
    VoteStatusPublic,
    accepted_json,
)

VOTE_ROUTE = "/paredoes/{paredao_id}/votes"
VOTE_PATH = re.compile(VOTE_ROUTE.replace("{paredao_id}", "([1-9][0-9]{0,9})"))

router = APIRouter(tags=["votes"])
admin = APIRouter(tags=["votes"], dependencies=[AdminDep])


def accepted_response(accepted: Accepted) -> Response:
    """The 202 of an accepted vote, the same bytes as the vote door's (`accepted_json`)."""
    return Response(accepted_json(accepted), status_code=202, media_type="application/json")


@router.post(
    VOTE_ROUTE,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cast a vote",
    response_model=VoteAccepted,
    responses=error_responses(401, 403, 404, 409, 413, 422, 429, 503),
)
async def cast_vote(
    paredao_id: ParedaoId,
    body: VoteCreate,
    voting: VotingDep,
    now: NowDep,
    authorization: Annotated[
        str | None,
        Header(
            description="`Bearer <token>` of the show's identity provider, when the server "
            "runs with PAREDAO_VOTER_AUTH=jwt (401 without a valid one); ignored otherwise."
        ),
    ] = None,
) -> Response:
    """Answered only once the vote is durable: committed (`status: counted`, the direct
    path) or in the replicated log (`status: queued`, the Kafka path). Sending the same
    `vote_id` again is answered the same way and counted once.

    Served by the vote door with the same behaviour; this route documents it and serves
    the requests the door hands over."""
    return accepted_response(await voting.cast(paredao_id, body, now, authorization))


@router.get(
    VOTE_ROUTE + "/{vote_id}",
    summary="A vote's status",
    responses=error_responses(404, 422),
)
async def read_vote(
    paredao_id: ParedaoId, vote_id: uuid.UUID, voting: VotingDep
) -> VoteStatusPublic:
    """For whoever holds the vote_id: `counted`, `refused` with the reason, or on the Kafka
    path `queued` while the consumer has not decided it (an id never sent reads the same)."""
    return VoteStatusPublic.of(await voting.status(paredao_id, vote_id))


@router.get(
    "/paredoes/{paredao_id}/results",
    summary="Results so far",
    response_model=ResultsPublic,
    responses=error_responses(404),
)
async def read_results(paredao_id: ParedaoId, reader: ResultsDep) -> Response:
    """Percentages per mode and final (weighted), and the outcome once closed; may be ~1 s old."""
    return _json(ResultsPublic.of(await reader.results(paredao_id)))


@admin.get(
    "/paredoes/{paredao_id}/stats",
    summary="Votes per nominee, mode and hour",
    response_model=StatsPublic,
    responses=error_responses(401, 404),
)
async def read_stats(paredao_id: ParedaoId, reader: ResultsDep) -> Response:
    return _json(StatsPublic.of(await reader.stats(paredao_id)))


def _json(answer: BaseModel) -> Response:
    """The answer serialised by its own model: it was validated when it was built, so
    FastAPI's second validation of the response would only cost time."""
    return Response(answer.model_dump_json(), media_type="application/json")


@admin.post(
    "/paredoes/{paredao_id}/replay",
    summary="Recount from the Kafka log",
    responses=error_responses(401, 404, 409),
)
async def replay(
    paredao_id: ParedaoId, replayer: ReplayDep, session: SessionDep, now: NowDep, actor: ActorDep
) -> ReplayPublic:
    """Decide every vote the log holds for this paredão again, with the consumer's own code,
    in a scratch database, and compare that tally with the stored one (Kafka path only)."""
    replayed = ReplayPublic.of(await replayer.replay(paredao_id))
    await asyncio.to_thread(
        audit.record, session, actor, "paredao.replay", f"paredao:{paredao_id}", now
    )
    return replayed


@admin.post(
    "/paredoes/{paredao_id}/recount",
    summary="Recount from the raw votes",
    responses=error_responses(401, 404),
)
async def recount(
    paredao_id: ParedaoId, reader: ResultsDep, session: SessionDep, now: NowDep, actor: ActorDep
) -> RecountPublic:
    """Count every vote row again and report whether it matches the tally."""
    recounted = RecountPublic.of(await reader.recount(paredao_id))
    await asyncio.to_thread(
        audit.record, session, actor, "paredao.recount", f"paredao:{paredao_id}", now
    )
    return recounted
