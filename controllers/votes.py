"""Voting: the captcha challenge, casting a vote, results (public) and stats (admin)."""

from datetime import timedelta

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from controllers.deps import AdminDep, NowDep, SettingsDep
from model.captcha import new_challenge
from services.results import ResultsReader
from services.voting import VotingService
from views.errors import error_responses
from views.votes import RecountPublic, ResultsPublic, StatsPublic, VoteAccepted, VoteCreate

router = APIRouter(tags=["votes"])
admin = APIRouter(tags=["votes"], dependencies=[AdminDep])


@router.get("/captcha/challenge", summary="Get a proof-of-work captcha challenge")
def captcha_challenge(settings: SettingsDep, now: NowDep) -> dict[str, object]:
    """A signed, expiring ALTCHA challenge. Find `number` ≤ `maxnumber` with
    `sha256(salt + number) == challenge`, then send base64 of the JSON
    `{algorithm, challenge, number, salt, signature}` as the vote's `captcha_token`."""
    return new_challenge(
        settings.secret_bytes,
        settings.captcha_max_number,
        now + timedelta(seconds=settings.captcha_ttl_s),
    )


@router.post(
    "/paredoes/{paredao_id}/votes",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cast a vote",
    responses=error_responses(403, 404, 409, 422, 429, 503),
)
async def cast_vote(paredao_id: int, body: VoteCreate, request: Request) -> VoteAccepted:
    """Answered only once the vote is durable (committed). Sending the same `vote_id` again
    is answered the same way and counted once.

    Served by a lean ASGI path (`controllers.fast_votes`) with the same behaviour; this
    route documents it and serves the requests the lean path hands over."""
    voting: VotingService = request.app.state.voting
    return VoteAccepted.of(await voting.cast(paredao_id, body, request.app.state.clock()))


@router.get(
    "/paredoes/{paredao_id}/results",
    summary="Results so far",
    response_model=ResultsPublic,
    responses=error_responses(404),
)
async def read_results(paredao_id: int, request: Request) -> Response:
    """Percentages per mode and final (weighted), and the outcome once closed; may be ~1 s old."""
    reader: ResultsReader = request.app.state.results
    return _json(await reader.results(paredao_id))


@admin.get(
    "/paredoes/{paredao_id}/stats",
    summary="Votes per nominee, mode and hour",
    response_model=StatsPublic,
    responses=error_responses(401, 404),
)
async def read_stats(paredao_id: int, request: Request) -> Response:
    reader: ResultsReader = request.app.state.results
    return _json(await reader.stats(paredao_id))


def _json(answer: BaseModel) -> Response:
    """The answer serialised by its own model: it was validated when it was built (and is
    cached), so FastAPI's second validation of the response would only cost time."""
    return Response(answer.model_dump_json(), media_type="application/json")


@admin.post(
    "/paredoes/{paredao_id}/recount",
    summary="Recount from the raw votes",
    responses=error_responses(401, 404),
)
async def recount(paredao_id: int, request: Request) -> RecountPublic:
    """Count every vote row again and report whether it matches the tally."""
    reader: ResultsReader = request.app.state.results
    return await reader.recount(paredao_id)
