"""PAREDAO_VOTER_AUTH=jwt: a vote carries the show's identity token, verified locally
(signature, issuer, audience, expiry on the app's clock), and the limits bind to its
subject, whatever voter_id the body says. The tests mint their own keys and tokens."""

import base64
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from config import Settings
from tests.conftest import SECRET_KEY, TEST_NOW, Clock, IsolatedSettings, cpf
from tests.support.api import assert_error

ISSUER = "https://login.example.com/"
AUDIENCE = "paredao-votes"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


PROVIDER = new_key()
STRANGER = new_key()
# An unsigned token ("alg": "none"), well formed otherwise.
UNSIGNED = (
    ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in ({"alg": "none", "typ": "JWT"}, {"sub": "x", "iss": ISSUER, "aud": AUDIENCE})
    )
    + "."
)


def token(
    sub: str = "account-1",
    *,
    key: rsa.RSAPrivateKey = PROVIDER,
    kid: str | None = None,
    **claims: Any,
) -> str:
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": int(TEST_NOW.timestamp()),
        "exp": int((TEST_NOW + timedelta(minutes=10)).timestamp()),
        **claims,
    }
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "provider.pem"
    path.write_bytes(
        PROVIDER.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.fixture
def settings(settings: Settings, key_file: Path) -> Settings:
    return settings.model_copy(
        update={
            "voter_auth": "jwt",
            "jwt_key_file": key_file,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
        }
    )


def vote(nominee: int, voter_id: str = "device", **extra: Any) -> dict[str, Any]:
    return {"nominee_id": nominee, "mode": "torcida", "voter_id": voter_id, **extra}


@dataclass(frozen=True)
class Polls:
    """An open paredão as a voter meets it: where its votes go, and a nominee to vote for."""

    url: str
    nominee: int

    async def send(self, client: httpx.AsyncClient, body: Any, signed: str) -> httpx.Response:
        """POST `body` as a vote, with the token `signed` as its bearer."""
        return await client.post(self.url, json=body, headers=bearer(signed))


@pytest.fixture
async def polls(open_paredao: Any) -> Polls:
    p = await open_paredao()
    return Polls(f"/paredoes/{p['id']}/votes", p["nominees"][0]["candidate_id"])


class TestVerification:
    async def test_a_valid_token_votes(self, client: httpx.AsyncClient, polls: Polls) -> None:
        r = await polls.send(client, vote(polls.nominee), token())
        assert r.status_code == 202, r.text

    @pytest.mark.parametrize(
        ("authorization", "fragment"),
        [
            (None, "Authorization: Bearer"),
            ("Basic abc", "Authorization: Bearer"),
            (f"Bearer {token(key=STRANGER)}", "Signature verification failed"),
            (f"Bearer {token(iss='https://evil.example/')}", "issuer"),
            (f"Bearer {token(aud='another-app')}", "Audience doesn't match"),
            (f"Bearer {token(sub='')}", "subject"),
            (f"Bearer {token(exp=int(TEST_NOW.timestamp()) - 60)}", "expired"),
            (f"Bearer {token(nbf=int(TEST_NOW.timestamp()) + 600)}", "not valid yet"),
            ("Bearer not.a.token", "not valid"),
            (f"Bearer {UNSIGNED}", "not valid"),
        ],
    )
    async def test_anything_else_is_401(
        self,
        client: httpx.AsyncClient,
        open_paredao: Any,
        authorization: str | None,
        fragment: str,
    ) -> None:
        p = await open_paredao()
        headers = {"Authorization": authorization} if authorization else {}
        for path in (f"/paredoes/{p['id']}/votes",):
            r = await client.post(
                path, json=vote(p["nominees"][0]["candidate_id"]), headers=headers
            )
            assert_error(r, 401, "unauthorized")
            assert fragment in r.json()["detail"]
            assert r.headers["WWW-Authenticate"] == "Bearer"

    async def test_expiry_is_judged_on_the_apps_clock(
        self, client: httpx.AsyncClient, polls: Polls, clock: Clock
    ) -> None:
        valid = token()
        clock.advance(minutes=11)  # past exp plus the leeway
        r = await polls.send(client, vote(polls.nominee), valid)
        assert r.status_code == 401, r.text
        assert "expired" in r.json()["detail"]


class TestLimitsBindToTheSubject:
    async def test_the_torcida_limit_follows_the_account_not_the_voter_id(
        self, client: httpx.AsyncClient, polls: Polls
    ) -> None:
        for i in range(10):  # a new device id each time: still one account
            r = await polls.send(client, vote(polls.nominee, f"device-{i}"), token())
            assert r.status_code == 202, r.text
        r = await polls.send(client, vote(polls.nominee, "device-new"), token())
        assert r.status_code == 429, r.text
        r = await polls.send(client, vote(polls.nominee, "device-0"), token("account-2"))
        assert r.status_code == 202, r.text

    async def test_a_cpf_votes_once_whichever_account_sends_it(
        self, client: httpx.AsyncClient, polls: Polls
    ) -> None:
        body = vote(polls.nominee, mode="unico", cpf=cpf(7))
        assert (await polls.send(client, body, token("a"))).status_code == 202
        r = await polls.send(client, body, token("b"))
        assert_error(r, 409, "cpf_already_voted")

    async def test_an_account_votes_unico_once_whatever_cpf_it_sends(
        self, client: httpx.AsyncClient, polls: Polls
    ) -> None:
        first = vote(polls.nominee, mode="unico", cpf=cpf(7))
        assert (await polls.send(client, first, token("a"))).status_code == 202
        second = vote(polls.nominee, "another-device", mode="unico", cpf=cpf(8))
        r = await polls.send(client, second, token("a"))
        assert_error(r, 409, "account_already_voted")
        # The same CPF is still refused as a CPF, and another account still votes único.
        r = await polls.send(client, first, token("a"))
        assert r.json()["error"] == "cpf_already_voted"
        r = await polls.send(client, second, token("b"))
        assert r.status_code == 202, r.text

    async def test_accounts_sharing_a_device_each_vote_unico(
        self, client: httpx.AsyncClient, polls: Polls
    ) -> None:
        # PAREDAO_UNICO_PER_DEVICE is the anonymous mode's: here the account binds the vote.
        for account, seed in (("a", 7), ("b", 8)):
            body = vote(polls.nominee, "shared-phone", mode="unico", cpf=cpf(seed))
            r = await polls.send(client, body, token(account))
            assert r.status_code == 202, r.text


class TestJwksFile:
    @pytest.fixture
    def key_file(self, tmp_path: Path) -> Path:
        path = tmp_path / "jwks.json"
        keys = []
        for kid, key in (("old", STRANGER), ("current", PROVIDER)):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        path.write_text(json.dumps({"keys": keys}))
        return path

    async def test_the_key_is_chosen_by_kid(self, client: httpx.AsyncClient, polls: Polls) -> None:
        body = vote(polls.nominee)
        r = await polls.send(client, body, token(kid="current"))
        assert r.status_code == 202, r.text
        r = await polls.send(client, body, token(kid="old"))
        assert r.status_code == 401  # signed by the provider, but not with the "old" key
        r = await polls.send(client, body, token(kid="unknown"))
        assert r.status_code == 401
        assert "key we do not know" in r.json()["detail"]


def test_jwt_mode_without_its_key_issuer_and_audience_does_not_start() -> None:
    with pytest.raises(ValidationError, match="PAREDAO_VOTER_AUTH=jwt needs PAREDAO_JWT_KEY_FILE"):
        IsolatedSettings(PAREDAO_SECRET_KEY=SECRET_KEY, PAREDAO_VOTER_AUTH="jwt")
