"""The proof-of-work captcha: signed challenges, whose difficulty rises under load."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from controllers.deps import ChallengeThrottleDep, DifficultyDep, NowDep, SettingsDep
from model.captcha import new_challenge
from model.errors import RateLimited
from views.api.errors import error_responses
from views.api.params import MAX_ID

router = APIRouter(tags=["votes"])


@router.get(
    "/captcha/challenge",
    summary="Get a proof-of-work captcha challenge",
    responses=error_responses(422, 429),
)
async def captcha_challenge(
    paredao_id: Annotated[
        int, Query(ge=1, le=MAX_ID, description="The paredão the solved token will vote in.")
    ],
    request: Request,
    settings: SettingsDep,
    now: NowDep,
    throttle: ChallengeThrottleDep,
    difficulty: DifficultyDep,
) -> dict[str, object]:
    """A signed ALTCHA challenge for one paredão, expiring in `expires_in_s` seconds. Find
    `number` ≤ `maxnumber` with `sha256(salt + number) == challenge`, then send base64 of the
    JSON `{algorithm, challenge, number, salt, signature}` as the vote's `captcha_token`
    (good for one vote in that paredão). At most PAREDAO_CAPTCHA_PER_MINUTE a minute per
    client address (429 with Retry-After past it)."""
    address = request.client.host if request.client else "unknown"
    if wait := throttle.take(address, now):
        raise RateLimited(
            f"too many captcha challenges from this address: try again in {wait} s", wait
        )
    challenge = new_challenge(
        settings.keys.captcha,
        difficulty.issue(now),
        now + timedelta(seconds=settings.captcha_ttl_s),
        paredao_id,
    )
    return {**challenge, "expires_in_s": settings.captcha_ttl_s}
