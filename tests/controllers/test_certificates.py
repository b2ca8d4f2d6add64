"""Results anyone can check (direct path): the signed certificate of a frozen paredão, its
verifying keys, and an inclusion proof per counted vote, each checked here the way an outsider
would: the root recomputed from the votes the test knows were counted, RFC 9162's algorithms
written out again, the signature verified with the published key."""

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI

import db.certificates
from tests.conftest import ADMIN, SECRET_KEY, Clock, cpf
from tests.controllers.test_key_rotation import NEW_SECRET, ring
from tests.support.api import assert_error
from tests.support.app import serving
from tools.verify_receipt import ReceiptFailed, check_receipt, verify_inclusion


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, as written there (recursive, split at the largest power of two < n)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def b64url(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def vote(client: httpx.AsyncClient, paredao_id: int, **body: Any) -> httpx.Response:
    body.setdefault("mode", "torcida")
    body.setdefault("voter_id", uuid.uuid4().hex)
    return await client.post(f"/paredoes/{paredao_id}/votes", json=body)


async def cast_mixed(
    client: httpx.AsyncClient, paredao: dict[str, Any], clock: Clock
) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """Votes of both modes, some refused: (counted vote_id → (nominee, mode), refused ids)."""
    a, b, *_ = [n["candidate_id"] for n in paredao["nominees"]]
    counted: dict[str, tuple[int, str]] = {}
    refused: list[str] = []
    plan = [(a, "unico", 1), (b, "unico", 2), (b, "unico", 3), (a, "torcida", None)]
    plan += [(b, "torcida", None)] * 3
    for nominee, mode, seed in plan:
        extra = {"cpf": cpf(seed)} if seed else {}
        r = await vote(client, paredao["id"], nominee_id=nominee, mode=mode, **extra)
        assert r.status_code == 202, r.text
        counted[r.json()["vote_id"]] = (nominee, mode)
    again = str(uuid.uuid4())  # the same CPF twice: refused
    r = await vote(client, paredao["id"], nominee_id=b, mode="unico", cpf=cpf(1), vote_id=again)
    assert r.status_code == 409, r.text
    refused.append(again)
    burst = str(uuid.uuid4())  # the 11th voto da torcida in a minute: refused
    for i in range(11):
        vote_id = burst if i == 10 else str(uuid.uuid4())
        r = await vote(client, paredao["id"], nominee_id=a, voter_id="fan", vote_id=vote_id)
        if i < 10:
            assert r.status_code == 202, r.text
            counted[vote_id] = (a, "torcida")
    assert r.status_code == 429, r.text
    refused.append(burst)
    clock.advance(seconds=1)
    return counted, refused


async def check_certificate(
    client: httpx.AsyncClient, paredao_id: int, counted: dict[str, tuple[int, str]]
) -> dict[str, Any]:
    """Everything an outsider checks, from the votes known to be counted; the payload."""
    r = await client.get(f"/paredoes/{paredao_id}/certificate")
    assert r.status_code == 200, r.text
    certificate = r.json()
    assert set(certificate) == {"payload", "signature", "key_id"}
    keys = (await client.get("/certificate-keys")).json()["keys"]
    jwk = next(k for k in keys if k["kid"] == certificate["key_id"])
    assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    public = Ed25519PublicKey.from_public_bytes(b64url(jwk["x"]))
    public.verify(b64url(certificate["signature"]), certificate["payload"].encode())
    payload: dict[str, Any] = json.loads(certificate["payload"])
    leaves = [f"{paredao_id}:{v}:{n}:{m}".encode() for v, (n, m) in sorted(counted.items())]
    assert payload["root"] == mth(leaves).hex()
    assert payload["tree_size"] == len(counted)
    assert payload["algorithm"] == "rfc9162-sha256"
    totals = Counter((n, m) for n, m in counted.values())
    for candidate, modes in payload["totals"].items():
        assert modes == {m: totals[(int(candidate), m)] for m in ("unico", "torcida")}
    assert sum(sum(m.values()) for m in payload["totals"].values()) == len(counted)
    results = (await client.get(f"/paredoes/{paredao_id}/results")).json()
    assert payload["outcome"] == results["outcome"]
    assert payload["closed_at"] == results["closes_at"]
    for index, leaf in enumerate(leaves):
        vote_id = leaf.decode().split(":")[1]
        r = await client.get(f"/paredoes/{paredao_id}/votes/{vote_id}/proof")
        assert r.status_code == 200, r.text
        proof = r.json()
        assert (proof["leaf_index"], proof["tree_size"], proof["leaf"]) == (
            index,
            len(leaves),
            leaf.decode(),
        )
        assert proof["root"] == payload["root"]
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        root = bytes.fromhex(proof["root"])
        assert verify_inclusion(index, len(leaves), leaf, path, root)
        assert not verify_inclusion(index, len(leaves), leaf + b"x", path, root)
    return payload


def fetcher(client: httpx.AsyncClient) -> Callable[[str], Any]:
    """The receipt tool's GET, through the test's client (it runs in a thread)."""
    import asyncio

    loop = asyncio.get_running_loop()

    def fetch(path: str) -> Any:
        r = asyncio.run_coroutine_threadsafe(client.get(path), loop).result(timeout=30)
        if r.status_code != 200:
            raise ReceiptFailed(f"GET {path} answered {r.status_code}: {r.text}")
        return r.json()

    return fetch


class TestCertificate:
    async def test_before_the_freeze_there_is_none_and_no_proof(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        r = await vote(client, paredao["id"], nominee_id=paredao["nominees"][0]["candidate_id"])
        for path in ("certificate", f"votes/{r.json()['vote_id']}/proof"):
            answer = await client.get(f"/paredoes/{paredao['id']}/{path}")
            assert_error(answer, 409, "not_certified")
        assert (await client.get("/paredoes/999/certificate")).status_code == 404

    async def test_the_certificate_holds_exactly_the_counted_votes(
        self, client: httpx.AsyncClient, open_paredao: Any, clock: Clock
    ) -> None:
        p = await open_paredao(3)
        counted, refused = await cast_mixed(client, p, clock)
        r = await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert r.status_code == 200, r.text
        await check_certificate(client, p["id"], counted)
        for vote_id in [*refused, str(uuid.uuid4())]:
            r = await client.get(f"/paredoes/{p['id']}/votes/{vote_id}/proof")
            assert (r.status_code, r.json()["error"]) == (404, "not_found"), r.text

    async def test_a_paredao_without_votes_is_certified_empty(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        closed = await client.post(f"/paredoes/{paredao['id']}/close", headers=ADMIN)
        assert closed.status_code == 200
        payload = await check_certificate(client, paredao["id"], {})
        assert payload["outcome"]["kind"] == "tie"

    async def test_many_chunks_prove_every_vote(
        self,
        client: httpx.AsyncClient,
        open_paredao: Any,
        clock: Clock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Chunks of 4 leaves: proofs cross chunks, and the last chunk is short."""
        monkeypatch.setattr(db.certificates, "CHUNK_SIZE", 4)
        p = await open_paredao(2)
        counted, _ = await cast_mixed(client, p, clock)
        assert len(counted) % 4 != 0 and len(counted) > 8
        await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        await check_certificate(client, p["id"], counted)

    async def test_the_receipt_tool_checks_a_vote_and_catches_a_forgery(
        self, client: httpx.AsyncClient, paredao: dict[str, Any], clock: Clock
    ) -> None:
        counted, _ = await cast_mixed(client, paredao, clock)
        await client.post(f"/paredoes/{paredao['id']}/close", headers=ADMIN)
        vote_id = next(iter(counted))
        import asyncio

        fetch = fetcher(client)
        lines = await asyncio.to_thread(check_receipt, fetch, paredao["id"], vote_id)
        assert f"vote {vote_id}" in lines[-1]

        def forged(path: str) -> Any:
            answer = fetch(path)
            if path.endswith("/certificate"):
                payload = json.loads(answer["payload"])
                payload["totals"] = {k: {"unico": 0, "torcida": 0} for k in payload["totals"]}
                answer["payload"] = json.dumps(payload)
            return answer

        with pytest.raises(ReceiptFailed, match="signature"):
            await asyncio.to_thread(check_receipt, forged, paredao["id"], vote_id)

    async def test_a_reopened_tie_has_no_certificate_until_frozen_again(
        self, client: httpx.AsyncClient, paredao: dict[str, Any], clock: Clock
    ) -> None:
        await client.post(f"/paredoes/{paredao['id']}/close", headers=ADMIN)  # 0 × 0: a tie
        assert (await client.get(f"/paredoes/{paredao['id']}/certificate")).status_code == 200
        r = await client.patch(
            f"/paredoes/{paredao['id']}", json={"closes_at": "2026-11-22T10:00:00Z"}, headers=ADMIN
        )
        assert r.status_code == 200, r.text
        assert (await client.get(f"/paredoes/{paredao['id']}/certificate")).status_code == 409
        r = await vote(client, paredao["id"], nominee_id=paredao["nominees"][0]["candidate_id"])
        assert r.status_code == 202, r.text
        clock.advance(seconds=1)
        await client.post(f"/paredoes/{paredao['id']}/close", headers=ADMIN)
        payload = await check_certificate(
            client,
            paredao["id"],
            {r.json()["vote_id"]: (paredao["nominees"][0]["candidate_id"], "torcida")},
        )
        assert payload["outcome"]["kind"] == "eliminated"


class TestKeys:
    async def test_a_rotation_keeps_old_certificates_verifiable(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        paredao: dict[str, Any],
        database_url: str,
        clock: Clock,
    ) -> None:
        counted, _ = await cast_mixed(client, paredao, clock)
        await client.post(f"/paredoes/{paredao['id']}/close", headers=ADMIN)
        before = (await client.get(f"/paredoes/{paredao['id']}/certificate")).json()
        old_keys = (await client.get("/certificate-keys")).json()["keys"]
        assert len(old_keys) == 1
        async with serving(ring(database_url, NEW_SECRET, SECRET_KEY), clock) as rotated:
            keys = (await rotated.get("/certificate-keys")).json()["keys"]
            assert [k["kid"] for k in keys][1:] == [old_keys[0]["kid"]]
            assert keys[0]["kid"] != old_keys[0]["kid"]
            assert (await rotated.get(f"/paredoes/{paredao['id']}/certificate")).json() == before
            await check_certificate(rotated, paredao["id"], counted)
        async with serving(ring(database_url, NEW_SECRET), clock) as forgot:
            keys = (await forgot.get("/certificate-keys")).json()["keys"]
            assert old_keys[0]["kid"] not in [k["kid"] for k in keys]
