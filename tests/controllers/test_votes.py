import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from starlette.types import Message

from app import Paredao
from config import Settings
from services.app_services import app_services
from tests.conftest import ADMIN, ON_POSTGRES, Clock, cpf, solve_captcha
from tests.support.api import assert_error
from tests.support.app import serving
from tests.support.paredoes import create_paredao


def vote(
    nominee_id: int, mode: str = "torcida", voter_id: str = "voter-1", **extra: Any
) -> dict[str, Any]:
    return {"nominee_id": nominee_id, "mode": mode, "voter_id": voter_id, **extra}


async def cast(client: httpx.AsyncClient, paredao_id: int, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/paredoes/{paredao_id}/votes", json=body)


async def results(client: httpx.AsyncClient, paredao_id: int) -> dict[str, Any]:
    r = await client.get(f"/paredoes/{paredao_id}/results")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def stats(client: httpx.AsyncClient, paredao_id: int) -> dict[str, Any]:
    r = await client.get(f"/paredoes/{paredao_id}/stats", headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def nominees(paredao: dict[str, Any]) -> list[int]:
    return [n["candidate_id"] for n in paredao["nominees"]]


async def closed_in_a_tie(client: httpx.AsyncClient, open_paredao: Any) -> dict[str, Any]:
    """A paredão of two that got one vote each and was closed: a tie, to be extended."""
    p: dict[str, Any] = await open_paredao(2)
    for i, n in enumerate(nominees(p)):
        await cast(client, p["id"], vote(n, voter_id=f"v{i}"))
    await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
    assert (await results(client, p["id"]))["outcome"]["kind"] == "tie"
    return p


class TestCastVote:
    async def test_accepted_vote_is_202_and_counted(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        a, _, _ = nominees(p)
        r = await cast(client, p["id"], vote(a))
        assert r.status_code == 202
        body = r.json()
        assert body["paredao_id"] == p["id"]
        assert (body["nominee_id"], body["mode"]) == (a, "torcida")
        assert body["accepted_at"] == "2026-11-21T22:00:00Z"
        assert uuid.UUID(body["vote_id"]).version == 7  # made by the server, time-ordered
        assert (await stats(client, p["id"]))["total_votes"] == 1

    async def test_unknown_paredao_is_404(self, client: httpx.AsyncClient) -> None:
        r = await cast(client, 999, vote(1))
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "detail": "paredão 999 does not exist"}

    @pytest.mark.parametrize(
        ("body", "fragment"),
        [
            ({"mode": "unico", "cpf": None}, "needs the voter's cpf"),
            ({"mode": "unico", "cpf": "123.456.789-00"}, "check digits"),
            ({"mode": "unico", "cpf": "111.111.111-11"}, "repeated"),
            ({"mode": "unico", "cpf": "-52998224725"}, "bare (00000000000) or masked"),
            ({"mode": "unico", "cpf": "529.982.247 25"}, "bare (00000000000) or masked"),
            ({"mode": "torcida", "cpf": "529.982.247-25"}, "takes no cpf"),
        ],
    )
    async def test_bad_cpf_or_mode_is_422(
        self, client: httpx.AsyncClient, open_paredao: Any, body: dict[str, Any], fragment: str
    ) -> None:
        p = await open_paredao()
        r = await cast(client, p["id"], vote(nominees(p)[0], **body))
        assert_error(r, 422, detail=fragment)

    async def test_nominee_of_another_paredao_is_422(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        r = await cast(client, p["id"], vote(999))
        assert r.status_code == 422
        assert r.json()["detail"] == f"candidate 999 is not a nominee of paredão {p['id']}"

    @pytest.mark.parametrize(
        "body",
        [
            {"mode": "torcida", "voter_id": "v"},  # no nominee
            {"nominee_id": 1, "mode": "bolão", "voter_id": "v"},
            {"nominee_id": 1, "mode": "torcida", "voter_id": ""},
            {"nominee_id": 1, "mode": "torcida", "voter_id": "v" * 65},
            {"nominee_id": 1, "mode": "torcida", "voter_id": "v", "vote_id": "not-a-uuid"},
            {"nominee_id": 1, "mode": "torcida", "voter_id": "v", "weight": 100},
        ],
    )
    async def test_malformed_body_is_422(
        self, client: httpx.AsyncClient, open_paredao: Any, body: dict[str, Any]
    ) -> None:
        p = await open_paredao()
        r = await cast(client, p["id"], body)
        assert_error(r, 422, "validation_error")


class TestVotingWindow:
    async def test_scheduled_is_409(self, client: httpx.AsyncClient, make_housemates: Any) -> None:
        ids = await make_housemates(2)
        scheduled = await create_paredao(client, ids)
        r = await cast(client, scheduled["id"], vote(ids[0]))
        assert_error(r, 409, "voting_not_open")
        assert "scheduled" in r.json()["detail"]

    async def test_closed_is_409(self, client: httpx.AsyncClient, open_paredao: Any) -> None:
        p = await open_paredao()
        await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        r = await cast(client, p["id"], vote(nominees(p)[0]))
        assert_error(r, 409, detail="closed")
        assert (await stats(client, p["id"]))["total_votes"] == 0

    async def test_window_is_opens_at_inclusive_closes_at_exclusive(
        self, client: httpx.AsyncClient, make_housemates: Any, clock: Clock
    ) -> None:
        ids = await make_housemates(2)
        scheduled = await create_paredao(
            client, ids, opens_at="2026-11-21T23:00:00Z", closes_at="2026-11-22T00:00:00Z"
        )
        pid = scheduled["id"]
        clock.advance(minutes=59, seconds=59)
        assert (await cast(client, pid, vote(ids[0]))).status_code == 409
        clock.advance(seconds=1)  # 23:00:00
        assert (await cast(client, pid, vote(ids[0]))).status_code == 202
        clock.advance(minutes=59, seconds=59, microseconds=999_999)
        assert (await cast(client, pid, vote(ids[0], voter_id="v2"))).status_code == 202
        clock.advance(microseconds=1)  # 00:00:00
        r = await cast(client, pid, vote(ids[0], voter_id="v3"))
        assert r.status_code == 409
        assert (await stats(client, pid))["total_votes"] == 2


class TestVotoUnico:
    async def test_one_vote_per_cpf_masked_or_not(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        a, b, _ = nominees(p)
        r = await cast(client, p["id"], vote(a, "unico", "v1", cpf="529.982.247-25"))
        assert r.status_code == 202
        r = await cast(client, p["id"], vote(b, "unico", "v2", cpf="52998224725"))
        assert_error(r, 409, "cpf_already_voted")
        assert (await stats(client, p["id"]))["total_votes"] == 1

    async def test_same_cpf_may_vote_in_another_paredao(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p1, p2 = await open_paredao(2), await open_paredao(2)
        for p in (p1, p2):
            r = await cast(client, p["id"], vote(nominees(p)[0], "unico", cpf=cpf(42)))
            assert r.status_code == 202

    async def test_the_cpf_is_never_stored(
        self, client: httpx.AsyncClient, open_paredao: Any, database_url: str, app: FastAPI
    ) -> None:
        p = await open_paredao()
        r = await cast(client, p["id"], vote(nominees(p)[0], "unico", cpf="529.982.247-25"))
        assert r.status_code == 202
        if ON_POSTGRES:
            # No column of any row of any table holds the CPF (a row cast to text has them all).
            with app_services(app).engine.connect() as connection:
                tables = connection.scalars(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                ).all()
                for table in tables:
                    rows = f"SELECT count(*) FROM {table} AS t WHERE t::text LIKE ANY (:cpfs)"  # noqa: S608
                    found = connection.scalar(
                        text(rows), {"cpfs": ["%52998224725%", "%529.982.247-25%"]}
                    )
                    assert found == 0, table
            return
        path = Path(database_url.removeprefix("sqlite:///"))
        data = path.read_bytes() + Path(f"{path}-wal").read_bytes()  # noqa: ASYNC240
        assert b"52998224725" not in data and b"529.982.247-25" not in data

    async def test_concurrent_duplicate_cpfs_give_one_202(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        a = nominees(p)[0]
        answers = await asyncio.gather(
            *(cast(client, p["id"], vote(a, "unico", f"v{i}", cpf=cpf(7))) for i in range(30))
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] + [409] * 29
        assert (await stats(client, p["id"]))["total_votes"] == 1


async def cast_unico(
    client: httpx.AsyncClient, paredao_id: int, nominee_id: int, voter_id: str, seed: int
) -> httpx.Response:
    """A voto único from `voter_id` with the CPF made from `seed`."""
    return await cast(client, paredao_id, vote(nominee_id, "unico", voter_id, cpf=cpf(seed)))


async def unico_burst(
    client: httpx.AsyncClient, paredao: dict[str, Any], voter_id: str, votes: int
) -> list[int]:
    """The status codes of `votes` concurrent votos únicos from one device, each its own CPF."""
    pid, nominee = paredao["id"], nominees(paredao)[0]
    answers = await asyncio.gather(
        *(cast_unico(client, pid, nominee, voter_id, 100 + i) for i in range(votes))
    )
    assert {r.json()["error"] for r in answers if r.status_code == 409} <= {"device_already_voted"}
    return sorted(r.status_code for r in answers)


class TestVotosUnicosPerDevice:
    """Anonymous mode: a voter_id casts at most PAREDAO_UNICO_PER_DEVICE votos únicos per
    paredão (default 1), whatever valid CPFs it computes."""

    async def test_a_second_cpf_from_one_device_is_409(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        pid, (a, b, _) = p["id"], nominees(p)
        assert (await cast_unico(client, pid, a, "phone", 1)).status_code == 202
        r = await cast_unico(client, pid, b, "phone", 2)
        assert r.status_code == 409
        assert r.json() == {
            "error": "device_already_voted",
            "detail": f"this device (voter_id) already cast its voto único in paredão {pid}",
        }
        # Another device, another paredão, and votos da torcida are not bound by it.
        assert (await cast_unico(client, pid, b, "tablet", 2)).status_code == 202
        assert (await cast(client, pid, vote(b, "torcida", "phone"))).status_code == 202
        other = await open_paredao(2)
        r = await cast_unico(client, other["id"], nominees(other)[0], "phone", 3)
        assert r.status_code == 202
        assert (await stats(client, pid))["total_votes"] == 3

    async def test_the_vote_is_refused_not_the_cpf(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        pid, a = p["id"], nominees(p)[0]
        await cast_unico(client, pid, a, "phone", 1)
        assert (await cast_unico(client, pid, a, "phone", 2)).status_code == 409
        # The CPF the device was refused with votes from its owner's own device.
        assert (await cast_unico(client, pid, a, "own", 2)).status_code == 202

    async def test_a_refused_cpf_leaves_the_device_its_vote(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        pid, a = p["id"], nominees(p)[0]
        await cast_unico(client, pid, a, "first", 1)
        r = await cast_unico(client, pid, a, "phone", 1)
        assert r.json()["error"] == "cpf_already_voted"
        assert (await cast_unico(client, pid, a, "phone", 2)).status_code == 202

    async def test_a_replay_of_the_devices_vote_is_still_202(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        body = vote(nominees(p)[0], "unico", "phone", cpf=cpf(1), vote_id=str(uuid.uuid4()))
        first = await cast(client, p["id"], body)
        again = await cast(client, p["id"], body)
        assert (again.status_code, again.json()) == (202, first.json())

    async def test_a_concurrent_burst_from_one_device_stores_one(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        assert await unico_burst(client, p, "bot", 20) == [202] + [409] * 19
        assert (await stats(client, p["id"]))["total_votes"] == 1


@pytest.mark.settings(unico_per_device=2)
class TestTwoVotosUnicosPerDevice:
    async def test_a_shared_phone_casts_two(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        pid, (a, b, _) = p["id"], nominees(p)
        assert (await cast_unico(client, pid, a, "family", 11)).status_code == 202
        assert (await cast_unico(client, pid, b, "family", 12)).status_code == 202
        r = await cast_unico(client, pid, a, "family", 13)
        assert r.status_code == 409
        assert r.json()["detail"] == (
            f"this device (voter_id) already cast the 2 votos únicos a device may cast "
            f"in paredão {pid}"
        )

    async def test_a_concurrent_burst_from_one_device_stores_two(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        assert await unico_burst(client, p, "bot", 20) == [202] * 2 + [409] * 18
        assert (await stats(client, p["id"]))["total_votes"] == 2


class TestIdempotency:
    async def test_replay_is_answered_the_same_and_counted_once(
        self, client: httpx.AsyncClient, open_paredao: Any, clock: Clock
    ) -> None:
        p = await open_paredao()
        body = vote(nominees(p)[0], "unico", cpf=cpf(1), vote_id=str(uuid.uuid4()))
        first = await cast(client, p["id"], body)
        clock.advance(seconds=5)
        again = await cast(client, p["id"], body)
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json()
        assert (await stats(client, p["id"]))["total_votes"] == 1

    async def test_reuse_with_a_different_body_is_409(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        a, b, _ = nominees(p)
        vote_id = str(uuid.uuid4())
        assert (await cast(client, p["id"], vote(a, vote_id=vote_id))).status_code == 202
        r = await cast(client, p["id"], vote(b, vote_id=vote_id))
        assert_error(r, 409, "vote_id_reused")
        r = await cast(client, p["id"], vote(a, voter_id="someone-else", vote_id=vote_id))
        assert r.status_code == 409

    async def test_replay_after_close_is_still_the_original(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        body = vote(nominees(p)[0], vote_id=str(uuid.uuid4()))
        first = await cast(client, p["id"], body)
        await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        again = await cast(client, p["id"], body)
        assert again.status_code == 202
        assert again.json() == first.json()

    async def test_concurrent_replays_count_once(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        body = vote(nominees(p)[0], vote_id=str(uuid.uuid4()))
        answers = await asyncio.gather(*(cast(client, p["id"], body) for _ in range(30)))
        assert {r.status_code for r in answers} == {202}
        assert len({r.text for r in answers}) == 1
        assert (await stats(client, p["id"]))["total_votes"] == 1

    async def test_replay_does_not_spend_rate_limit(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        body = vote(nominees(p)[0], vote_id=str(uuid.uuid4()))
        for _ in range(15):
            assert (await cast(client, p["id"], body)).status_code == 202
        for _ in range(9):
            assert (await cast(client, p["id"], vote(nominees(p)[0]))).status_code == 202


class TestRateLimit:
    async def test_ten_torcida_votes_a_minute_per_voter(
        self, client: httpx.AsyncClient, open_paredao: Any, clock: Clock
    ) -> None:
        p = await open_paredao()
        a = nominees(p)[0]
        for i in range(10):
            clock.advance(seconds=1)
            assert (await cast(client, p["id"], vote(a))).status_code == 202, i
        r = await cast(client, p["id"], vote(a))
        assert_error(r, 429, "rate_limited")
        assert r.headers["Retry-After"] == "51"  # the first vote (at 22:00:01) leaves at 22:01:01
        assert (await cast(client, p["id"], vote(a, voter_id="another"))).status_code == 202
        assert (await cast(client, p["id"], vote(a, "unico", cpf=cpf(3)))).status_code == 202
        clock.advance(seconds=51)
        assert (await cast(client, p["id"], vote(a))).status_code == 202
        assert (await stats(client, p["id"]))["total_votes"] == 13

    async def test_limit_is_per_paredao(self, client: httpx.AsyncClient, open_paredao: Any) -> None:
        p1, p2 = await open_paredao(2), await open_paredao(2)
        for _ in range(10):
            await cast(client, p1["id"], vote(nominees(p1)[0]))
        assert (await cast(client, p1["id"], vote(nominees(p1)[0]))).status_code == 429
        assert (await cast(client, p2["id"], vote(nominees(p2)[0]))).status_code == 202

    async def test_concurrent_burst_from_one_voter_stores_exactly_ten(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        answers = await asyncio.gather(
            *(cast(client, p["id"], vote(nominees(p)[0])) for _ in range(40))
        )
        assert sorted(r.status_code for r in answers) == [202] * 10 + [429] * 30
        assert (await stats(client, p["id"]))["total_votes"] == 10


class TestCaptcha:
    async def test_required_by_default(self, client: httpx.AsyncClient, open_paredao: Any) -> None:
        p = await open_paredao(require_captcha=True)
        a = nominees(p)[0]
        r = await cast(client, p["id"], vote(a))
        assert_error(r, 403, "captcha_failed")
        token = await solve_captcha(client, p["id"])
        assert (await cast(client, p["id"], vote(a, captcha_token=token))).status_code == 202
        r = await cast(client, p["id"], vote(a, captcha_token=token))
        assert_error(r, 403, detail="already used")
        assert (await stats(client, p["id"]))["total_votes"] == 1

    async def test_bad_and_expired_tokens_are_403(
        self, client: httpx.AsyncClient, open_paredao: Any, clock: Clock
    ) -> None:
        p = await open_paredao(require_captcha=True)
        a = nominees(p)[0]
        r = await cast(client, p["id"], vote(a, captcha_token="bm90IGpzb24="))
        assert r.status_code == 403
        token = await solve_captcha(client, p["id"])
        clock.advance(minutes=11)
        r = await cast(client, p["id"], vote(a, captcha_token=token))
        assert_error(r, 403, detail="expired")

    async def test_one_token_in_a_concurrent_burst_buys_one_vote(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(require_captcha=True)
        token = await solve_captcha(client, p["id"])
        answers = await asyncio.gather(
            *(
                cast(client, p["id"], vote(nominees(p)[0], voter_id=f"v{i}", captcha_token=token))
                for i in range(20)
            )
        )
        assert sorted(r.status_code for r in answers) == [202] + [403] * 19

    async def test_replay_with_a_spent_token_is_the_original(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(require_captcha=True)
        body = vote(
            nominees(p)[0],
            vote_id=str(uuid.uuid4()),
            captcha_token=await solve_captcha(client, p["id"]),
        )
        first = await cast(client, p["id"], body)
        again = await cast(client, p["id"], body)
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json()


class TestResults:
    async def test_percentages_per_mode_and_weighted_final(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(unico_weight=0.7)
        a, b, c = nominees(p)
        for i, n in enumerate([a, b, b, c]):
            assert (
                await cast(client, p["id"], vote(n, "unico", f"u{i}", cpf=cpf(100 + i)))
            ).status_code == 202
        for i, n in enumerate([a, a, a]):
            assert (await cast(client, p["id"], vote(n, voter_id=f"t{i}"))).status_code == 202
        body = await results(client, p["id"])
        assert body["total_votes"] == 7
        assert body["status"] == "open"
        assert body["as_of"] == "2026-11-21T22:00:00Z"
        assert body["outcome"] == {
            "kind": "pending",
            "candidate_id": None,
            "tied_candidate_ids": [],
        }
        percent = {n["candidate_id"]: n["percent"] for n in body["nominees"]}
        assert percent[a] == {"unico": 25.0, "torcida": 100.0, "final": 47.5}
        assert percent[b] == {"unico": 50.0, "torcida": 0.0, "final": 35.0}
        assert percent[c] == {"unico": 25.0, "torcida": 0.0, "final": 17.5}

    async def test_no_votes(self, client: httpx.AsyncClient, paredao: dict[str, Any]) -> None:
        body = await results(client, paredao["id"])
        assert body["total_votes"] == 0
        assert all(
            n["percent"] == {"unico": None, "torcida": None, "final": None}
            for n in body["nominees"]
        )

    async def test_unknown_paredao_is_404(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/paredoes/999/results")).status_code == 404
        assert (await client.get("/paredoes/999/stats", headers=ADMIN)).status_code == 404
        assert (await client.post("/paredoes/999/recount", headers=ADMIN)).status_code == 404

    @pytest.mark.parametrize(
        ("kind", "expected_kind", "expected_index"),
        [("eliminate", "eliminated", 1), ("save", "eliminated", 0), ("final", "winner", 1)],
    )
    async def test_close_freezes_the_outcome_and_applies_it(
        self,
        client: httpx.AsyncClient,
        open_paredao: Any,
        kind: str,
        expected_kind: str,
        expected_index: int,
    ) -> None:
        p = await open_paredao(2, kind=kind)
        a, b = nominees(p)
        for i, n in enumerate([a, b, b]):
            await cast(client, p["id"], vote(n, voter_id=f"v{i}"))
        await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        body = await results(client, p["id"])
        chosen = [a, b][expected_index]
        assert body["status"] == "closed"
        assert body["outcome"] == {
            "kind": expected_kind,
            "candidate_id": chosen,
            "tied_candidate_ids": [],
        }
        candidate = (await client.get(f"/candidates/{chosen}", headers=ADMIN)).json()
        assert candidate["status"] == ("winner" if kind == "final" else "eliminated")
        other = (
            await client.get(f"/candidates/{[a, b][1 - expected_index]}", headers=ADMIN)
        ).json()
        assert other["status"] == "housemate"

    async def test_tie_is_reported_and_nobody_leaves(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(3)
        a, b, c = nominees(p)
        for i, n in enumerate([a, b]):
            await cast(client, p["id"], vote(n, voter_id=f"v{i}"))
        await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        body = await results(client, p["id"])
        assert body["outcome"] == {
            "kind": "tie",
            "candidate_id": None,
            "tied_candidate_ids": [a, b],
        }
        for n in (a, b, c):
            assert (await client.get(f"/candidates/{n}", headers=ADMIN)).json()[
                "status"
            ] == "housemate"

    async def test_closes_at_passing_freezes_on_the_next_read(
        self, client: httpx.AsyncClient, open_paredao: Any, clock: Clock
    ) -> None:
        p = await open_paredao(2, closes_at="2026-11-21T23:00:00Z")
        a, _ = nominees(p)
        await cast(client, p["id"], vote(a))
        clock.advance(hours=1)
        assert (await cast(client, p["id"], vote(a, voter_id="late"))).status_code == 409
        body = await results(client, p["id"])
        assert body["status"] == "closed"
        assert body["outcome"]["candidate_id"] == a
        assert (await client.get(f"/candidates/{a}", headers=ADMIN)).json()[
            "status"
        ] == "eliminated"
        r = await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert r.status_code == 409

    async def test_results_are_cached_for_about_a_second(
        self, app: Any, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        cache = app_services(app).results.results_cache
        now = [1000.0]  # the cache's monotonic clock, moved by hand
        cache._monotonic = lambda: now[0]
        cache.ttl_s = 1.0
        p = await open_paredao(2)
        first = await results(client, p["id"])
        await cast(client, p["id"], vote(nominees(p)[0]))
        assert (await results(client, p["id"])) == first  # served from the cache, with its as_of
        now[0] += 0.9
        assert (await results(client, p["id"])) == first  # still within the second
        now[0] += 0.2
        assert (await results(client, p["id"]))["total_votes"] == 1  # past it: read again

    async def test_a_close_is_visible_at_once_in_this_worker(
        self, app: Any, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        app_services(app).results.results_cache.ttl_s = 60
        app_services(app).results.stats_cache.ttl_s = 60
        p = await open_paredao(2)
        a, _ = nominees(p)
        await cast(client, p["id"], vote(a))
        assert (await results(client, p["id"]))["status"] == "open"  # cached for a minute
        assert (await client.get(f"/paredoes/{p['id']}/stats", headers=ADMIN)).status_code == 200
        closed = await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert closed.json()["outcome"] == {"kind": "eliminated", "candidate_id": a}
        body = await results(client, p["id"])
        assert body["status"] == "closed"
        assert body["outcome"]["kind"] == "eliminated"
        assert body["outcome"]["candidate_id"] == a

    async def test_an_extension_is_visible_at_once_in_this_worker(
        self, app: Any, client: httpx.AsyncClient, open_paredao: Any, clock: Clock
    ) -> None:
        app_services(app).results.results_cache.ttl_s = 60
        p = await closed_in_a_tie(client, open_paredao)
        r = await client.patch(
            f"/paredoes/{p['id']}", json={"closes_at": "2026-11-22T22:00:00Z"}, headers=ADMIN
        )
        assert r.status_code == 200
        assert r.json()["outcome"] == {"kind": "pending", "candidate_id": None}
        body = await results(client, p["id"])
        assert body["status"] == "open"
        assert body["closes_at"] == "2026-11-22T22:00:00Z"


class TestCastAt:
    async def test_accepted_at_is_when_the_api_took_the_vote(
        self, client: httpx.AsyncClient, paredao: dict[str, Any], clock: Clock
    ) -> None:
        clock.advance(minutes=7, seconds=3)
        r = await cast(client, paredao["id"], vote(nominees(paredao)[0]))
        assert r.json()["accepted_at"] == "2026-11-21T22:07:03Z"
        assert r.json()["status"] == "counted"


class TestStats:
    async def test_hourly_buckets_are_utc_and_never_merge_days(
        self, client: httpx.AsyncClient, paredao: dict[str, Any], clock: Clock
    ) -> None:
        a, b = nominees(paredao)
        await cast(client, paredao["id"], vote(a, voter_id="x"))  # 2026-11-21 22:00
        clock.advance(hours=1, minutes=59)  # 23:59
        await cast(client, paredao["id"], vote(b, voter_id="y"))
        await cast(client, paredao["id"], vote(b, "unico", cpf=cpf(5)))
        clock.advance(hours=24, minutes=2)  # 2026-11-23 00:01
        await cast(client, paredao["id"], vote(a, voter_id="z"))
        body = await stats(client, paredao["id"])
        assert body["total_votes"] == 4
        assert body["nominees"][0]["votes"] == {"unico": 0, "torcida": 2, "total": 2}
        assert body["nominees"][1]["votes"] == {"unico": 1, "torcida": 1, "total": 2}
        assert body["hourly"] == [
            {"hour": "2026-11-21T22:00:00Z", "candidate_id": a, "votes": 1},
            {"hour": "2026-11-21T23:00:00Z", "candidate_id": b, "votes": 2},
            {"hour": "2026-11-23T00:00:00Z", "candidate_id": a, "votes": 1},
        ]

    async def test_admin_only(self, client: httpx.AsyncClient, paredao: dict[str, Any]) -> None:
        assert (await client.get(f"/paredoes/{paredao['id']}/stats")).status_code == 401
        assert (await client.post(f"/paredoes/{paredao['id']}/recount")).status_code == 401


class TestRecount:
    async def test_matches_and_then_catches_a_tampered_tally(
        self, app: Any, client: httpx.AsyncClient, paredao: dict[str, Any], clock: Clock
    ) -> None:
        a, b = nominees(paredao)
        for i in range(5):
            await cast(client, paredao["id"], vote(a if i % 2 else b, voter_id=f"v{i}"))
        clock.advance(hours=1)
        await cast(client, paredao["id"], vote(a, "unico", cpf=cpf(9)))
        r = await client.post(f"/paredoes/{paredao['id']}/recount", headers=ADMIN)
        assert r.status_code == 200
        assert r.json() == {
            "paredao_id": paredao["id"],
            "matches": True,
            "tally_total": 6,
            "recount_total": 6,
            "differences": [],
        }
        with app_services(app).engine.begin() as connection:
            connection.execute(text("UPDATE vote_tally SET votes = votes + 1 WHERE mode = 'unico'"))
        body = (await client.post(f"/paredoes/{paredao['id']}/recount", headers=ADMIN)).json()
        assert body["matches"] is False
        assert body["differences"] == [
            {
                "candidate_id": a,
                "mode": "unico",
                "hour": "2026-11-21T23:00:00+00:00",
                "tally": 2,
                "recount": 1,
            }
        ]


def through_route(body: dict[str, Any], **headers: str) -> dict[str, Any]:
    """What a vote sent as `application/vote+json` needs: the door leaves it to the route."""
    return {"json": body, "headers": {"Content-Type": "application/vote+json", **headers}}


class TestVoteDoor:
    """The vote door (in front of every middleware) and the documented route answer alike."""

    async def test_the_same_answer_and_headers_as_the_route(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        path = f"/paredoes/{p['id']}/votes"
        door = await client.post(path, json=vote(nominees(p)[0]), headers={"X-Request-ID": "d-1"})
        route = await client.post(
            path, **through_route(vote(nominees(p)[0], voter_id="v2"), **{"X-Request-ID": "r-1"})
        )
        assert (door.status_code, route.status_code) == (202, 202)
        assert list(door.headers.keys()) == list(route.headers.keys())
        assert door.headers["x-request-id"] == "d-1"
        assert door.headers["x-content-type-options"] == "nosniff"
        assert door.headers["referrer-policy"] == "same-origin"
        assert int(door.headers["content-length"]) == len(door.content)
        assert door.json().keys() == route.json().keys()

    @pytest.mark.parametrize(("paredao", "nominee", "status"), [(999, 1, 404), (None, 10**6, 422)])
    async def test_refusals_are_the_routes(
        self,
        client: httpx.AsyncClient,
        open_paredao: Any,
        paredao: int | None,
        nominee: int,
        status: int,
    ) -> None:
        path = f"/paredoes/{paredao or (await open_paredao())['id']}/votes"
        door = await client.post(path, json=vote(nominee))
        route = await client.post(path, **through_route(vote(nominee)))
        assert (door.status_code, door.json()) == (route.status_code, route.json())
        assert door.json()["error"] in ("not_found", "validation_error")
        assert door.status_code == status
        assert list(door.headers.keys()) == list(route.headers.keys())

    async def test_counted_in_flight_with_the_guards(
        self, app: FastAPI, client: httpx.AsyncClient, open_paredao: Any, monkeypatch: Any
    ) -> None:
        assert isinstance(app, Paredao) and app.bounds is not None
        bounds = app.bounds
        p = await open_paredao()
        voting = app_services(app).voting
        entered, release = asyncio.Event(), asyncio.Event()
        cast_now = voting.cast

        async def held(*args: Any) -> Any:
            entered.set()
            await release.wait()
            return await cast_now(*args)

        monkeypatch.setattr(voting, "cast", held)
        waiting = asyncio.create_task(cast(client, p["id"], vote(nominees(p)[0])))
        await entered.wait()
        assert bounds.in_flight == 1
        bounds.max_in_flight = 1  # full: the guards shed the next vote
        r = await cast(client, p["id"], vote(nominees(p)[0], voter_id="v2"))
        assert_error(r, 503, "unavailable")
        assert r.headers["Retry-After"] == "1"
        release.set()
        assert (await waiting).status_code == 202
        assert bounds.in_flight == 0

    async def test_a_huge_declared_length_is_413_unread(
        self, app: FastAPI, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        sent: list[Message] = []

        async def receive() -> Message:
            raise AssertionError("the body is read")

        async def send(message: Message) -> None:
            sent.append(message)

        for length in (b"70000", b"9" * 5000):  # past the bound; past int()'s digits
            sent.clear()
            headers = [(b"content-type", b"application/json"), (b"content-length", length)]
            path = f"/paredoes/{p['id']}/votes"
            await app(
                {"type": "http", "method": "POST", "path": path, "headers": headers}, receive, send
            )
            start, answer = sent
            assert start["status"] == 413
            assert json.loads(answer["body"])["error"] == "payload_too_large"

    async def test_a_failure_is_a_500_in_our_shape_and_raised_on(
        self, app: FastAPI, client: httpx.AsyncClient, open_paredao: Any, monkeypatch: Any
    ) -> None:
        p = await open_paredao()

        async def broken(*args: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(app_services(app).voting, "cast", broken)
        body = json.dumps(vote(nominees(p)[0])).encode()
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        scope = {
            "type": "http",
            "method": "POST",
            "path": f"/paredoes/{p['id']}/votes",
            "headers": headers,
        }
        with pytest.raises(RuntimeError, match="boom"):
            await app(scope, receive, send)
        start, answer = sent
        assert start["status"] == 500
        assert (b"x-content-type-options", b"nosniff") in start["headers"]
        assert json.loads(answer["body"])["error"] == "internal_error"

    async def test_other_content_type_is_left_to_the_route(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        r = await client.post(
            f"/paredoes/{p['id']}/votes",
            content=b'{"nominee_id": 1, "mode": "torcida", "voter_id": "v"}',
            headers={"Content-Type": "text/plain"},
        )
        assert_error(r, 422, "validation_error")

    async def test_the_route_itself_casts_votes(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        # A JSON media type other than application/json is left to the route by the door.
        p = await open_paredao()
        body = vote(nominees(p)[0], vote_id=str(uuid.uuid4()))
        via_route = await client.post(
            f"/paredoes/{p['id']}/votes",
            json=body,
            headers={"Content-Type": "application/vote+json"},
        )
        assert via_route.status_code == 202
        via_lean_path = await cast(client, p["id"], body)
        assert via_lean_path.json() == via_route.json()
        r = await client.post(
            f"/paredoes/{p['id']}/votes",
            json={**body, "voter_id": "someone-else"},
            headers={"Content-Type": "application/vote+json"},
        )
        assert r.status_code == 409  # same vote_id, different body: the same rule on both paths

    async def test_huge_body_is_refused_not_truncated(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        body = vote(nominees(p)[0], captcha_token="x" * 70_000)
        r = await cast(client, p["id"], body)
        assert_error(r, 413, "payload_too_large")
        # The same limit whatever the content type: the route never reads a larger body.
        r = await client.post(
            f"/paredoes/{p['id']}/votes",
            content=json.dumps(body),
            headers={"Content-Type": "application/vote+json"},
        )
        assert r.status_code == 413
        assert (await results(client, p["id"]))["total_votes"] == 0


class TestExtendVoting:
    async def test_a_tie_is_reopened_by_extending_closes_at(
        self, client: httpx.AsyncClient, open_paredao: Any, clock: Clock
    ) -> None:
        p = await closed_in_a_tie(client, open_paredao)
        a, _ = nominees(p)

        r = await client.patch(
            f"/paredoes/{p['id']}", json={"closes_at": "2026-11-21T23:00:00Z"}, headers=ADMIN
        )
        assert r.status_code == 200
        assert (r.json()["status"], r.json()["closes_at"]) == ("open", "2026-11-21T23:00:00Z")
        assert (await results(client, p["id"]))["outcome"]["kind"] == "pending"
        assert (await cast(client, p["id"], vote(a, voter_id="tiebreaker"))).status_code == 202

        clock.advance(hours=1)  # closes_at passes: the next read freezes the new result
        body = await results(client, p["id"])
        assert body["outcome"] == {
            "kind": "eliminated",
            "candidate_id": a,
            "tied_candidate_ids": [],
        }
        assert (await client.get(f"/candidates/{a}", headers=ADMIN)).json()[
            "status"
        ] == "eliminated"

    async def test_a_decided_paredao_cannot_be_reopened(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        await cast(client, paredao["id"], vote(nominees(paredao)[0]))
        await client.post(f"/paredoes/{paredao['id']}/close", headers=ADMIN)
        r = await client.patch(
            f"/paredoes/{paredao['id']}", json={"closes_at": "2026-11-21T23:00:00Z"}, headers=ADMIN
        )
        assert_error(r, 409, detail="only a tie can be extended")

    async def test_open_paredao_can_be_extended_but_not_into_the_past(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        path = f"/paredoes/{paredao['id']}"
        r = await client.patch(path, json={"closes_at": "2026-11-21T21:00:00Z"}, headers=ADMIN)
        assert r.status_code == 422
        assert r.json()["detail"] == "closes_at must be in the future"
        r = await client.patch(path, json={"closes_at": "2026-11-22T22:00:00Z"}, headers=ADMIN)
        assert (r.status_code, r.json()["status"]) == (200, "open")
        assert (
            await client.patch(path, json={"closes_at": "2026-11-22T22:00:00Z"})
        ).status_code == 401
        r = await client.patch(
            "/paredoes/999", json={"closes_at": "2026-11-22T22:00:00Z"}, headers=ADMIN
        )
        assert r.status_code == 404


TORCIDA = {"mode": "torcida", "voter_id": "v"}


class TestDatabaseUnreachable:
    async def test_reads_and_votes_answer_503_not_500(
        self, unreachable_settings: Settings, clock: Clock
    ) -> None:
        async with serving(unreachable_settings, clock) as c:
            for r in (
                await c.get("/paredoes/1/results"),
                await c.post(
                    "/paredoes/1/votes", json={"nominee_id": 1, "mode": "torcida", "voter_id": "v"}
                ),
            ):
                assert_error(r, 503, "unavailable")
                assert r.headers["Retry-After"] == "1"
