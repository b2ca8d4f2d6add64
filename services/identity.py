"""Who votes, in `PAREDAO_VOTER_AUTH=jwt` mode: the subject of a token from the show's identity
provider (OIDC), verified here with its public key, never by asking the provider.

A vote carries `Authorization: Bearer <token>`. The token's signature must verify against the
configured public key (a PEM file, or a JWKS file whose key is chosen by the token's `kid`),
with one of the configured algorithms; its `iss` and `aud` must be the configured ones; it
must name a `sub` and an `exp`, and be neither expired nor not yet valid at the app's clock.
The vote's `voter_id` is then derived from the token's issuer and subject (whatever the body
says), so the torcida limit binds to the account, and so does a voto único's CPF.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt

from model.errors import Unauthorized

LEEWAY_S = 30  # clock skew tolerated between the provider and us


@dataclass(frozen=True)
class VoterTokens:
    """Verifies voters' tokens locally (see the module doc)."""

    keys: dict[str | None, Any]  # by `kid`; None: the one key of a PEM file
    issuer: str
    audience: str
    algorithms: tuple[str, ...]

    @classmethod
    def load(
        cls, key_file: Path, *, issuer: str, audience: str, algorithms: tuple[str, ...]
    ) -> "VoterTokens":
        """Read the public key(s): a PEM public key, or a JWKS (`{"keys": [...]}`)."""
        text = key_file.read_text()
        if text.lstrip().startswith("{"):
            jwks = jwt.PyJWKSet.from_dict(json.loads(text))
            keys: dict[str | None, Any] = {k.key_id: k.key for k in jwks.keys}
        else:
            keys = {None: text}
        return cls(keys=keys, issuer=issuer, audience=audience, algorithms=algorithms)

    def voter_id(self, authorization: str | None, now: datetime) -> str:
        """The voter id of the account a valid `Bearer` token names (401 otherwise)."""
        claims = self._verify(_bearer(authorization), now)
        digest = hashlib.sha256(f"{claims['iss']}\n{claims['sub']}".encode()).hexdigest()
        return f"sub:{digest[:40]}"

    def _verify(self, token: str, now: datetime) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.keys.get(None) or self.keys.get(kid if isinstance(kid, str) else "")
            if key is None:
                raise Unauthorized("the voter token was signed with a key we do not know")
            # Times are checked below against the app's clock, not PyJWT's reading of the wall.
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": ["exp", "iss", "aud", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the voter token is not valid: {exc}") from exc
        at = now.timestamp()
        if not isinstance(claims["exp"], int | float) or at >= claims["exp"] + LEEWAY_S:
            raise Unauthorized("the voter token has expired: sign in again")
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, int | float) or at < nbf - LEEWAY_S):
            raise Unauthorized("the voter token is not valid yet")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise Unauthorized("the voter token names no subject")
        return claims


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("voting needs 'Authorization: Bearer <token>' from the show's login")
    return token.strip()
