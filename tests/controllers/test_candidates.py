from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, application, years_ago
from tests.support.api import assert_error


async def apply(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/candidates", json=application(**overrides))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


class TestApply:
    async def test_creates_an_applicant(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/candidates", json=application(state="pb", email="Ju@Example.com"))
        assert r.status_code == 201
        body = r.json()
        assert body["status"] == "applicant"
        assert body["state"] == "PB"
        assert body["email"] == "ju@example.com"
        assert body["photo_url"] == "https://example.com/juliette.jpg"
        assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")

    async def test_photo_is_optional(self, client: httpx.AsyncClient) -> None:
        body = application()
        del body["photo_url"]
        r = await client.post("/candidates", json=body)
        assert r.status_code == 201
        assert r.json()["photo_url"] is None

    async def test_duplicate_email_is_409_whatever_the_case(
        self, client: httpx.AsyncClient
    ) -> None:
        await apply(client)
        r = await client.post("/candidates", json=application(email="JULIETTE@example.com"))
        assert_error(r, 409, "duplicate_email")
        assert "juliette@example.com" in r.json()["detail"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("name", ""),
            ("name", "x" * 121),
            ("email", "not-an-email"),
            ("state", "XX"),
            ("city", ""),
            ("bio", "x" * 2001),
            ("photo_url", "ftp://example.com/a.jpg"),
            ("photo_url", "not a url"),
            ("birth_date", "1990-02-30"),
            # PostgreSQL's text holds no NUL: refused as invalid, never a 500 from the database.
            ("name", "Ju\u0000liette"),
            ("city", "\u0000Campina"),
            ("bio", "a\u0000"),
            ("photo_url", "https://example.com/\u0000.jpg"),
        ],
    )
    async def test_invalid_field_is_422_naming_it(
        self, client: httpx.AsyncClient, field: str, value: str
    ) -> None:
        r = await client.post("/candidates", json=application(**{field: value}))
        assert r.status_code == 422
        body = r.json()
        assert body["error"] == "validation_error"
        assert any(field in e["loc"] for e in body["detail"]), body

    async def test_missing_field_is_422(self, client: httpx.AsyncClient) -> None:
        body = application()
        del body["city"]
        r = await client.post("/candidates", json=body)
        assert r.status_code == 422
        assert ["body", "city"] in [e["loc"] for e in r.json()["detail"]]

    async def test_must_be_18_today(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/candidates", json=application(birth_date=years_ago(18, days=1)))
        assert r.status_code == 422
        assert "18 or older" in r.text
        r = await client.post("/candidates", json=application(birth_date=years_ago(18)))
        assert r.status_code == 201

    async def test_unknown_field_is_422(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/candidates", json=application(status="housemate"))
        assert r.status_code == 422

    async def test_malformed_json_is_422_in_the_error_shape(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.post(
            "/candidates", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert_error(r, 422, "validation_error")


class TestAdminAuth:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/candidates"),
            ("GET", "/candidates/1"),
            ("PATCH", "/candidates/1"),
            ("DELETE", "/candidates/1"),
            ("POST", "/paredoes"),
            ("POST", "/paredoes/1/open"),
            ("POST", "/paredoes/1/close"),
        ],
    )
    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    )
    async def test_admin_calls_need_the_token(
        self, client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
    ) -> None:
        r = await client.request(method, path, headers=headers, json={})
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json()["error"] == "unauthorized"


class TestListCandidates:
    async def test_filters_pages_and_counts(self, client: httpx.AsyncClient) -> None:
        a = await apply(client, name="Ana Clara", email="a@x.com", state="SP", city="São Paulo")
        await apply(client, name="Bruno", email="b@x.com", state="RJ", city="Niterói")
        c = await apply(client, name="Carla", email="c@x.com", state="SP", city="Campinas")
        await client.patch(f"/candidates/{c['id']}", json={"status": "housemate"}, headers=ADMIN)

        r = await client.get("/candidates", headers=ADMIN)
        assert r.status_code == 200
        assert r.json()["total"] == 3
        assert [i["name"] for i in r.json()["items"]] == ["Ana Clara", "Bruno", "Carla"]

        r = await client.get("/candidates", params={"state": "sp"}, headers=ADMIN)
        assert [i["id"] for i in r.json()["items"]] == [a["id"], c["id"]]

        r = await client.get("/candidates", params={"status": "housemate"}, headers=ADMIN)
        assert [i["id"] for i in r.json()["items"]] == [c["id"]]

        r = await client.get("/candidates", params={"q": "NITER"}, headers=ADMIN)
        assert [i["name"] for i in r.json()["items"]] == ["Bruno"]

        r = await client.get("/candidates", params={"q": "ana"}, headers=ADMIN)
        assert [i["name"] for i in r.json()["items"]] == ["Ana Clara"]

        r = await client.get("/candidates", params={"limit": 1, "offset": 1}, headers=ADMIN)
        body = r.json()
        assert (body["total"], body["limit"], body["offset"]) == (3, 1, 1)
        assert [i["name"] for i in body["items"]] == ["Bruno"]

    async def test_q_treats_wildcards_literally(self, client: httpx.AsyncClient) -> None:
        await apply(client, name="Ana", email="a@x.com")
        r = await client.get("/candidates", params={"q": "%"}, headers=ADMIN)
        assert r.json()["total"] == 0

    @pytest.mark.parametrize(
        "params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"status": "king"}]
    )
    async def test_bad_query_is_422(
        self, client: httpx.AsyncClient, params: dict[str, Any]
    ) -> None:
        r = await client.get("/candidates", params=params, headers=ADMIN)
        assert_error(r, 422, "validation_error")


class TestReadUpdateDelete:
    async def test_read(self, client: httpx.AsyncClient) -> None:
        a = await apply(client)
        r = await client.get(f"/candidates/{a['id']}", headers=ADMIN)
        assert r.status_code == 200
        assert r.json() == a

    @pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
    async def test_unknown_is_404(self, client: httpx.AsyncClient, method: str) -> None:
        r = await client.request(method, "/candidates/999", headers=ADMIN, json={})
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "detail": "candidate 999 does not exist"}

    async def test_patch_is_partial(self, client: httpx.AsyncClient) -> None:
        a = await apply(client)
        r = await client.patch(f"/candidates/{a['id']}", json={"city": "  Recife "}, headers=ADMIN)
        assert r.status_code == 200
        assert r.json()["city"] == "Recife"
        assert r.json()["name"] == a["name"]
        assert r.json()["updated_at"] >= a["updated_at"]

    async def test_patch_validates_like_post(self, client: httpx.AsyncClient) -> None:
        a = await apply(client)
        for body in ({"state": "ZZ"}, {"birth_date": years_ago(10)}, {"email": "nope"}):
            r = await client.patch(f"/candidates/{a['id']}", json=body, headers=ADMIN)
            assert r.status_code == 422, body

    async def test_patch_to_a_taken_email_is_409(self, client: httpx.AsyncClient) -> None:
        await apply(client, email="a@x.com")
        b = await apply(client, email="b@x.com")
        r = await client.patch(f"/candidates/{b['id']}", json={"email": "A@x.com"}, headers=ADMIN)
        assert_error(r, 409, "duplicate_email")

    async def test_status_follows_its_rules(self, client: httpx.AsyncClient) -> None:
        a = await apply(client)
        r = await client.patch(f"/candidates/{a['id']}", json={"status": "winner"}, headers=ADMIN)
        assert r.status_code == 409
        assert "applicant" in r.json()["detail"]
        r = await client.patch(
            f"/candidates/{a['id']}", json={"status": "housemate"}, headers=ADMIN
        )
        assert r.status_code == 200
        assert r.json()["status"] == "housemate"

    async def test_delete(self, client: httpx.AsyncClient) -> None:
        a = await apply(client)
        r = await client.delete(f"/candidates/{a['id']}", headers=ADMIN)
        assert r.status_code == 204
        assert r.content == b""
        r = await client.get(f"/candidates/{a['id']}", headers=ADMIN)
        assert r.status_code == 404

    async def test_delete_of_a_past_nominee_is_409(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        ids = await make_housemates(2)
        r = await client.post(
            "/paredoes",
            json={"title": "1º Paredão", "kind": "eliminate", "nominee_ids": ids},
            headers=ADMIN,
        )
        assert r.status_code == 201
        r = await client.delete(f"/candidates/{ids[0]}", headers=ADMIN)
        assert_error(r, 409, "candidate_in_use")
        r = await client.get(f"/candidates/{ids[0]}", headers=ADMIN)
        assert r.status_code == 200
