"""The self-hosted proof-of-work captcha (the ALTCHA scheme): signed, expiring challenges.

The server signs a challenge `sha256(salt + n)` for a secret n ≤ max_number; the browser finds
n by brute force (about half a second at the default difficulty); the server checks the
answer with one hash and one HMAC, with no state. Spending a solved challenge once is the
database's job (`SpentCaptcha`).
"""

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs

from altcha.v1 import ChallengeOptions, create_challenge

from model.errors import CaptchaFailed

ALGORITHM: Final = "SHA-256"
# Far above any difficulty we set (the setting's own bound): a larger number is not a solution.
MAX_NUMBER: Final = 10**9
# Epoch seconds up to year 2286 have 10 digits; more than 11 is not a time we issued.
MAX_EPOCH_DIGITS: Final = 11


@dataclass(frozen=True)
class SolvedCaptcha:
    challenge: str  # the challenge hash: what is recorded as spent
    expires_at: datetime


def new_challenge(
    key: bytes, max_number: int, expires_at: datetime, paredao_id: int
) -> dict[str, Any]:
    """A signed challenge for one paredão, in the JSON shape the ALTCHA widget and our page
    read; its salt carries its expiry and its paredão, both covered by the signature."""
    challenge = create_challenge(
        ChallengeOptions(
            algorithm=ALGORITHM,
            hmac_key=key,
            max_number=max_number,
            expires=expires_at,
            params={"paredao": str(paredao_id)},
        )
    )
    return {
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "maxnumber": challenge.max_number,
        "salt": challenge.salt,
        "signature": challenge.signature,
    }


def verify(token: str | None, key: bytes, now: datetime, paredao_id: int) -> SolvedCaptcha:
    """Check a solved challenge (base64 JSON of algorithm, challenge, number, salt, signature).

    Nothing in the token is trusted before its signature holds: first the shape (exact types),
    then our HMAC of the challenge, then the proof of work (`sha256(salt + number)`), which
    also vouches for the salt, and only then the parameters the salt carries (its expiry and
    the paredão it was issued for, which must be `paredao_id`).
    """
    if not token:
        raise CaptchaFailed("this paredão needs a solved captcha: send captcha_token")
    try:
        payload = json.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise CaptchaFailed("the captcha token is malformed") from exc
    if not isinstance(payload, dict) or payload.get("algorithm") != ALGORITHM:
        raise CaptchaFailed("the captcha token is malformed")
    challenge, salt, signature = (
        _ascii(payload.get(f)) for f in ("challenge", "salt", "signature")
    )
    number = payload.get("number")
    if (
        challenge is None
        or salt is None
        or signature is None
        or type(number) is not int  # not a bool, not a float
        or not 0 <= number <= MAX_NUMBER
    ):
        raise CaptchaFailed("the captcha token is malformed")
    expected = hmac.new(key, challenge.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise CaptchaFailed("the captcha solution is wrong: the challenge was not issued here")
    # The salt as it was signed ends with the delimiter ALTCHA adds against parameter splicing.
    spliced = salt if salt.endswith("&") else salt + "&"
    solved = hashlib.sha256(f"{spliced}{number}".encode()).hexdigest()
    if not hmac.compare_digest(solved, challenge):
        raise CaptchaFailed("the captcha solution is wrong")
    params = parse_qs(salt.partition("?")[2])
    expires_at = _expiry(params)
    if params.get("paredao") != [str(paredao_id)]:
        raise CaptchaFailed("this captcha was solved for another paredão: solve a new one")
    if now >= expires_at:
        raise CaptchaFailed("the captcha challenge expired: solve a new one")
    return SolvedCaptcha(challenge=challenge, expires_at=expires_at)


def _expiry(params: dict[str, list[str]]) -> datetime:
    """The expiry a signed salt carries (`<nonce>?expires=<epoch s>&…`); every salt we issue
    has one, so a salt without one (or with a time no clock can hold) was not issued here."""
    expires = params.get("expires", [""])[0]
    if not expires.isascii() or not expires.isdigit() or len(expires) > MAX_EPOCH_DIGITS:
        raise CaptchaFailed("the captcha challenge has no expiry and was not issued here")
    return datetime.fromtimestamp(int(expires), UTC)


def _ascii(value: object) -> str | None:
    """`value` if it is an ASCII string (all we issue: hex digests, a hex nonce, a query)."""
    return value if isinstance(value, str) and value.isascii() else None
