"""The self-hosted proof-of-work captcha (the ALTCHA scheme): signed, expiring challenges.

The server signs a challenge `sha256(salt + n)` for a secret n ≤ max_number; the browser finds
n by brute force (about half a second at the default difficulty); the server checks the
answer with one hash and one HMAC, with no state. Spending a solved challenge once is the
database's job (`SpentCaptcha`).
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from altcha.v1 import (
    ChallengeOptions,
    PayloadType,
    create_challenge,
    extract_params,
    verify_solution,
)

from model.errors import CaptchaFailed

ALGORITHM: Final = "SHA-256"


@dataclass(frozen=True)
class SolvedCaptcha:
    challenge: str  # the challenge hash: what is recorded as spent
    expires_at: datetime


def new_challenge(key: bytes, max_number: int, expires_at: datetime) -> dict[str, Any]:
    """A signed challenge, in the JSON shape the ALTCHA widget and our page read."""
    challenge = create_challenge(
        ChallengeOptions(
            algorithm=ALGORITHM, hmac_key=key, max_number=max_number, expires=expires_at
        )
    )
    return {
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "maxnumber": challenge.max_number,
        "salt": challenge.salt,
        "signature": challenge.signature,
    }


def verify(token: str | None, key: bytes, now: datetime) -> SolvedCaptcha:
    """Check a solved challenge (base64 JSON of algorithm, challenge, number, salt, signature)."""
    if not token:
        raise CaptchaFailed("this paredão needs a solved captcha: send captcha_token")
    try:
        payload = json.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise CaptchaFailed("the captcha token is malformed") from exc
    if not isinstance(payload, dict) or payload.get("algorithm") != ALGORITHM:
        raise CaptchaFailed("the captcha token is malformed")
    expires = extract_params(cast(PayloadType, payload)).get("expires")
    try:
        expires_at = datetime.fromtimestamp(int(expires[0]), UTC) if expires else None
    except ValueError as exc:
        raise CaptchaFailed("the captcha token is malformed") from exc
    if expires_at is None:
        raise CaptchaFailed("the captcha challenge has no expiry and was not issued here")
    ok, _error = verify_solution(cast(PayloadType, payload), key, check_expires=False)
    if not ok:
        raise CaptchaFailed("the captcha solution is wrong")
    if now >= expires_at:
        raise CaptchaFailed("the captcha challenge expired: solve a new one")
    return SolvedCaptcha(challenge=str(payload["challenge"]), expires_at=expires_at)
