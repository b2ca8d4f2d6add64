"""Votes: casting one, its status, results (public), stats, recount and replay (admin).
The captcha challenge a vote may need is `controllers.captcha`'s.

The vote has one door with two ways in. `POST /paredoes/{id}/votes` takes the live burst, and
FastAPI's generic machinery (routing through every route, dependency solving, threadpool
hops, response validation) costs more than storing the vote; so `LeanVotes`, an ASGI
middleware, serves it directly: the same path, `VoteCreate` model,
`VotingService` and 202 JSON as the documented route below. Anything it does not handle
itself (a body that fails validation, another content type) goes on to that route with the
body replayed, so errors and docs stay exactly those of the route.
"""

import asyncio
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controllers.audit import ActorDep
from controllers.deps import (
    AdminDep,
    NowDep,
    ReplayDep,
    ResultsDep,
    SessionDep,
    VotingDep,
)
from controllers.errors import render_domain_error
from model.ballot import Accepted
from model.errors import DomainError
from services import audit
from services.app_services import app_services
from views.api.errors import error_responses
from views.api.params import MAX_ID, ParedaoId
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
    """The 202 of an accepted vote, the same bytes from the route and the lean path."""
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

    Served by a lean ASGI path with the same behaviour; this route documents it and serves
    the requests the lean path hands over."""
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


# --- the lean way in ---------------------------------------------------------------------------


class LeanVotes:
    """Serves `POST /paredoes/{id}/votes` ahead of FastAPI's routing (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        match = VOTE_PATH.fullmatch(scope["path"])
        if match is None or int(match[1]) > MAX_ID:  # the route answers an id out of range
            return await self.app(scope, receive, send)
        body = await _read_body(receive)  # bounded by the guards in front (controllers.guards)
        if body is None:  # the client went away
            return None
        if not _is_json(scope):  # the route answers (415/422)
            return await self.app(scope, _replay(body, receive, more=False), send)
        try:
            vote = VoteCreate.model_validate_json(body)
        except ValidationError:
            return await self.app(scope, _replay(body, receive, more=False), send)

        services = app_services(scope["app"])
        try:
            accepted = await services.voting.cast(
                int(match[1]), vote, services.clock(), _authorization(scope)
            )
        except DomainError as exc:
            return await render_domain_error(exc)(scope, receive, send)
        await accepted_response(accepted)(scope, receive, send)


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value).decode("latin-1")
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"application/json")
    return False


async def _read_body(receive: Receive) -> bytes | None:
    """The request body (no larger than the guards let in), or None if the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive, *, more: bool) -> Receive:
    """A `receive` that first gives back the body already read, then the rest of the stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": more}
            return message
        return await receive()

    return replay
