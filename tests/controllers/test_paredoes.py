from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Clock, application
from tests.support.api import assert_error


def paredao_body(nominee_ids: list[int], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"title": "4º Paredão", "kind": "eliminate", "nominee_ids": nominee_ids}
    body.update(overrides)
    return body


async def create(
    client: httpx.AsyncClient, nominee_ids: list[int], **overrides: Any
) -> dict[str, Any]:
    r = await client.post("/paredoes", json=paredao_body(nominee_ids, **overrides), headers=ADMIN)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


class TestCreateParedao:
    async def test_creates_a_scheduled_paredao_with_its_nominees(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        ids = await make_housemates(3)
        body = await create(client, ids, kind="save", unico_weight=0.7, require_captcha=False)
        assert body["status"] == "scheduled"
        assert body["kind"] == "save"
        assert body["unico_weight"] == 0.7
        assert body["torcida_weight"] == pytest.approx(0.3)
        assert body["require_captcha"] is False
        assert [n["candidate_id"] for n in body["nominees"]] == ids
        assert body["nominees"][0] == {
            "candidate_id": ids[0],
            "name": "Brother 0",
            "photo_url": "https://example.com/juliette.jpg",
        }

    async def test_defaults(self, client: httpx.AsyncClient, make_housemates: Any) -> None:
        body = await create(client, await make_housemates(2))
        assert (body["unico_weight"], body["require_captcha"], body["show_partial_results"]) == (
            0.5,
            True,
            True,
        )
        assert body["opens_at"] is None
        assert body["closes_at"] is None

    @pytest.mark.parametrize("count", [1, 5])
    async def test_needs_two_to_four_nominees(
        self, client: httpx.AsyncClient, make_housemates: Any, count: int
    ) -> None:
        ids = await make_housemates(count)
        r = await client.post("/paredoes", json=paredao_body(ids), headers=ADMIN)
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "nominee_ids"]

    async def test_nominees_must_be_distinct(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        ids = await make_housemates(2)
        r = await client.post("/paredoes", json=paredao_body([ids[0], ids[0]]), headers=ADMIN)
        assert r.status_code == 422
        assert "distinct" in r.text

    async def test_an_applicant_is_refused_by_id(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        ids = await make_housemates(2)
        r = await client.post("/candidates", json=application(email="new@x.com", name="Novata"))
        applicant = r.json()["id"]
        r = await client.post("/paredoes", json=paredao_body([*ids, applicant]), headers=ADMIN)
        assert r.status_code == 422
        assert r.json() == {
            "error": "validation_error",
            "detail": f"nominee {applicant} (Novata) is not a housemate (status 'applicant')",
        }

    async def test_an_unknown_candidate_is_refused_by_id(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        ids = await make_housemates(2)
        r = await client.post("/paredoes", json=paredao_body([*ids, 999]), headers=ADMIN)
        assert r.status_code == 422
        assert r.json()["detail"] == "nominee 999 is not a candidate"

    @pytest.mark.parametrize(
        "overrides",
        [
            {"opens_at": "2026-11-22T10:00:00Z", "closes_at": "2026-11-22T10:00:00Z"},
            {"opens_at": "2026-11-22T10:00:00Z", "closes_at": "2026-11-22T09:00:00Z"},
            {"opens_at": "2026-11-22T10:00:00"},  # no time zone
            {"unico_weight": 1.5},
            {"unico_weight": -0.1},
            {"kind": "banish"},
            {"title": ""},
            {"title": "4º\u0000Paredão"},  # PostgreSQL's text holds no NUL
        ],
    )
    async def test_invalid_is_422(
        self, client: httpx.AsyncClient, make_housemates: Any, overrides: dict[str, Any]
    ) -> None:
        ids = await make_housemates(2)
        r = await client.post("/paredoes", json=paredao_body(ids, **overrides), headers=ADMIN)
        assert_error(r, 422, "validation_error")

    async def test_nothing_is_stored_when_refused(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        ids = await make_housemates(2)
        await client.post("/paredoes", json=paredao_body([*ids, 999]), headers=ADMIN)
        assert (await client.get("/paredoes")).json()["total"] == 0


class TestReadParedoes:
    async def test_public_read_and_404(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        created = await create(client, await make_housemates(2))
        r = await client.get(f"/paredoes/{created['id']}")
        assert r.status_code == 200
        assert r.json() == created
        assert r.headers["Vary"] == "Accept"  # browsers get the vote page at this address
        r = await client.get("/paredoes/999")
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "detail": "paredão 999 does not exist"}

    async def test_list_filters_by_effective_status(
        self, client: httpx.AsyncClient, make_housemates: Any, clock: Clock
    ) -> None:
        ids = await make_housemates(2)
        scheduled = await create(client, ids)
        by_clock = await create(
            client, ids, opens_at="2026-11-21T23:00:00Z", closes_at="2026-11-22T01:00:00Z"
        )
        opened = await create(client, ids)
        await client.post(f"/paredoes/{opened['id']}/open", headers=ADMIN)

        async def ids_with(status: str) -> list[int]:
            r = await client.get("/paredoes", params={"status": status})
            assert r.status_code == 200
            return [p["id"] for p in r.json()["items"]]

        assert await ids_with("open") == [opened["id"]]
        assert await ids_with("scheduled") == [by_clock["id"], scheduled["id"]]

        clock.advance(hours=1)  # 23:00, by_clock's opens_at
        assert await ids_with("open") == [opened["id"], by_clock["id"]]
        r = await client.get(f"/paredoes/{by_clock['id']}")
        assert r.json()["status"] == "open"

        clock.advance(hours=2)  # 01:00, by_clock's closes_at
        assert await ids_with("closed") == [by_clock["id"]]
        assert (await client.get(f"/paredoes/{by_clock['id']}")).json()["status"] == "closed"

        r = await client.get("/paredoes")
        assert r.json()["total"] == 3
        assert [p["id"] for p in r.json()["items"]] == [
            opened["id"],
            by_clock["id"],
            scheduled["id"],
        ]

    async def test_bad_status_filter_is_422(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/paredoes", params={"status": "paused"})
        assert r.status_code == 422


class TestTransitions:
    async def test_open_then_close(
        self, client: httpx.AsyncClient, make_housemates: Any, clock: Clock
    ) -> None:
        p = await create(client, await make_housemates(2))
        r = await client.post(f"/paredoes/{p['id']}/open", headers=ADMIN)
        assert r.status_code == 200
        assert r.json()["status"] == "open"
        assert r.json()["opens_at"] == "2026-11-21T22:00:00Z"
        clock.advance(minutes=5)
        r = await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert r.status_code == 200
        assert r.json()["status"] == "closed"
        assert r.json()["closes_at"] == "2026-11-21T22:05:00Z"

    async def test_wrong_transitions_are_409(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        p = await create(client, await make_housemates(2))
        r = await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert r.status_code == 409
        assert r.json() == {
            "error": "wrong_transition",
            "detail": "a paredão that is 'scheduled' cannot become 'closed'",
        }
        await client.post(f"/paredoes/{p['id']}/open", headers=ADMIN)
        r = await client.post(f"/paredoes/{p['id']}/open", headers=ADMIN)
        assert r.status_code == 409
        await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        for action in ("open", "close"):
            r = await client.post(f"/paredoes/{p['id']}/{action}", headers=ADMIN)
            assert r.status_code == 409, action

    async def test_open_by_schedule_cannot_be_opened_again(
        self, client: httpx.AsyncClient, make_housemates: Any, clock: Clock
    ) -> None:
        p = await create(client, await make_housemates(2), opens_at="2026-11-21T21:00:00Z")
        r = await client.post(f"/paredoes/{p['id']}/open", headers=ADMIN)
        assert r.status_code == 409
        r = await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert r.status_code == 200

    async def test_closed_by_schedule_cannot_be_closed_again(
        self, client: httpx.AsyncClient, make_housemates: Any, clock: Clock
    ) -> None:
        p = await create(
            client,
            await make_housemates(2),
            opens_at="2026-11-21T21:00:00Z",
            closes_at="2026-11-21T22:30:00Z",
        )
        clock.advance(minutes=30)
        r = await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert r.status_code == 409
        assert "'closed'" in r.json()["detail"]

    async def test_opening_early_moves_opens_at(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        p = await create(client, await make_housemates(2), opens_at="2026-11-22T01:00:00Z")
        r = await client.post(f"/paredoes/{p['id']}/open", headers=ADMIN)
        assert r.json()["opens_at"] == "2026-11-21T22:00:00Z"

    @pytest.mark.parametrize("action", ["open", "close"])
    async def test_unknown_paredao_is_404(self, client: httpx.AsyncClient, action: str) -> None:
        r = await client.post(f"/paredoes/999/{action}", headers=ADMIN)
        assert r.status_code == 404


class TestErrorsEverywhere:
    async def test_unknown_route_is_404_in_the_error_shape(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/nope")
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "detail": "Not Found"}

    async def test_wrong_method_is_405_in_the_error_shape(self, client: httpx.AsyncClient) -> None:
        r = await client.put("/paredoes")
        assert_error(r, 405, "method_not_allowed")

    async def test_non_integer_id_is_422(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/paredoes/abc")
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["path", "paredao_id"]

    async def test_openapi_docs_are_served(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/openapi.json")
        assert r.status_code == 200
        paths = r.json()["paths"]
        assert "/paredoes/{paredao_id}/open" in paths
        assert paths["/candidates"]["post"]["summary"] == "Apply to join the house"
        assert (await client.get("/docs")).status_code == 200
