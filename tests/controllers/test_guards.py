"""What no public input may do: reach a 500, make a worker read an unbounded body, or get an
answer without the security headers. Through HTTP, and through raw ASGI where the test must
see how much of a body the server read."""

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.http import h11_impl, httptools_impl

from controllers.guards import Guards, server_busy
from tests.conftest import ADMIN, application
from tests.support.api import assert_error

BIG = 2**63
LIMIT = 64 * 1024  # the default PAREDAO_MAX_BODY_BYTES


def vote(nominee_id: int, **extra: Any) -> dict[str, Any]:
    return {"nominee_id": nominee_id, "mode": "torcida", "voter_id": "v", **extra}


class TestNumbersOutOfRange:
    """Ids past the database's integers are a 422 in the schema, never an OverflowError."""

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", f"/paredoes/{BIG}"),
            ("GET", f"/paredoes/{2**31}"),
            ("GET", "/paredoes/-9223372036854775809"),
            ("GET", f"/paredoes/{BIG}/results"),
            ("GET", f"/paredoes/{BIG}/stats"),
            ("POST", f"/paredoes/{BIG}/open"),
            ("POST", f"/paredoes/{BIG}/close"),
            ("POST", f"/paredoes/{BIG}/recount"),
            ("GET", f"/candidates/{BIG}"),
            ("DELETE", f"/candidates/{BIG}"),
            ("GET", f"/paredoes?offset={BIG}"),
            ("GET", f"/candidates?offset={BIG}"),
            ("GET", f"/paredoes/{BIG}/votes/019a8f2e-5b7c-7d1e-9a3b-2c4d5e6f7a8b"),
        ],
    )
    async def test_is_422(self, client: httpx.AsyncClient, method: str, path: str) -> None:
        r = await client.request(method, path, headers=ADMIN)
        assert_error(r, 422, "validation_error")

    async def test_a_vote_for_a_huge_paredao_or_nominee_is_422(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        r = await client.post(f"/paredoes/{BIG}/votes", json=vote(1))
        assert r.status_code == 422, r.text
        r = await client.post(f"/paredoes/{2**31}/votes", json=vote(1))  # to the route
        assert r.status_code == 422, r.text
        r = await client.post(f"/paredoes/{p['id']}/votes", json=vote(BIG))
        assert r.status_code == 422, r.text

    async def test_huge_nominee_ids_are_422(self, client: httpx.AsyncClient) -> None:
        body = {"title": "P", "kind": "eliminate", "nominee_ids": [1, BIG]}
        r = await client.post("/paredoes", json=body, headers=ADMIN)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "nominee_ids", 1]


def keywords(schema: object) -> Iterator[tuple[str, object]]:
    """Every (keyword, value) pair in a JSON document, however deep."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            yield key, value
            yield from keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from keywords(item)


class TestSchemaStatesBounds:
    """The published schema states bounds in JSON Schema's words, so a client generated from
    it (or any validator) knows them; pydantic's `ge`/`le` would be read by nothing."""

    async def test_no_pydantic_keyword_in_the_openapi(self, client: httpx.AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()
        found = {key for key, _ in keywords(schema) if key in {"ge", "le", "gt", "lt"}}
        assert found == set()

    async def test_body_bounds_are_minimum_and_maximum(self, client: httpx.AsyncClient) -> None:
        schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
        nominee_id = schemas["VoteCreate"]["properties"]["nominee_id"]
        assert (nominee_id["minimum"], nominee_id["maximum"]) == (1, 2**31 - 1)
        nominee_ids = schemas["ParedaoCreate"]["properties"]["nominee_ids"]["items"]
        assert (nominee_ids["minimum"], nominee_ids["maximum"]) == (1, 2**31 - 1)
        weight = schemas["ParedaoCreate"]["properties"]["unico_weight"]
        assert (weight["minimum"], weight["maximum"]) == (0, 1)


class TestIdsInPaths:
    """An id in a path is written `[1-9][0-9]*`; any other spelling of a number (leading zeros,
    a sign, Python's `_`, other scripts' digits) is a 422, never another address of a paredão."""

    SPELLINGS = ("0{id}", "00{id}", "+{id}", "{id}_0", "1_{id}", " {id}", "{id}.0", "\u0661")

    @pytest.mark.parametrize("spelling", SPELLINGS)
    @pytest.mark.parametrize(
        ("method", "template"),
        [
            ("GET", "/paredoes/{id}"),
            ("GET", "/paredoes/{id}/results"),
            ("POST", "/paredoes/{id}/open"),
            ("GET", "/candidates/{id}"),
        ],
    )
    async def test_routes_answer_422(
        self, client: httpx.AsyncClient, method: str, template: str, spelling: str
    ) -> None:
        path = template.format(id=spelling.format(id=1))
        r = await client.request(method, path, headers=ADMIN)
        assert r.status_code == 422, (path, r.text)
        detail = r.json()["detail"][0]
        assert detail["loc"][0] == "path"
        assert "without sign, separator or leading zero" in detail["msg"]

    @pytest.mark.parametrize("spelling", SPELLINGS)
    async def test_the_vote_path_answers_422_and_counts_nothing(
        self, client: httpx.AsyncClient, open_paredao: Any, spelling: str
    ) -> None:
        p = await open_paredao()
        nominee = p["nominees"][0]["candidate_id"]
        r = await client.post(f"/paredoes/{spelling.format(id=p['id'])}/votes", json=vote(nominee))
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["path", "paredao_id"]
        r = await client.get(f"/paredoes/{p['id']}/stats", headers=ADMIN)
        assert r.json()["total_votes"] == 0
        r = await client.post(f"/paredoes/{p['id']}/votes", json=vote(nominee))
        assert r.status_code == 202, r.text  # the one way to write it


class TestForgedCaptcha:
    @pytest.mark.parametrize(
        "payload",
        [
            {"algorithm": "SHA-256", "challenge": "c", "number": 1, "salt": 7, "signature": "s"},
            {"algorithm": "SHA-256", "challenge": "c", "number": 1, "salt": [1], "signature": "s"},
            {
                "algorithm": "SHA-256",
                "challenge": "c",
                "number": 1,
                "salt": "x?expires=100000000000000000000",
                "signature": "s",
            },
        ],
    )
    async def test_is_403_not_500(
        self, client: httpx.AsyncClient, open_paredao: Any, payload: dict[str, Any]
    ) -> None:
        p = await open_paredao(require_captcha=True)
        token = base64.b64encode(json.dumps(payload).encode()).decode()
        r = await client.post(
            f"/paredoes/{p['id']}/votes",
            json=vote(p["nominees"][0]["candidate_id"], captcha_token=token),
        )
        assert_error(r, 403, "captcha_failed")


class TestUnreadableBodies:
    @pytest.mark.parametrize(
        "content",
        [b'{"name": "\xff\xfe"}', b"[" * 50_000, b'{"a":' * 10_000],
        ids=["invalid-utf8", "deep-array", "deep-object"],
    )
    @pytest.mark.parametrize("path", ["/candidates", "/paredoes/1/votes"])
    async def test_are_400_in_our_shape(
        self, client: httpx.AsyncClient, content: bytes, path: str
    ) -> None:
        r = await client.post(path, content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json() == {"error": "bad_request", "detail": "There was an error parsing the body"}

    async def test_400_and_413_are_documented_on_every_body(
        self, client: httpx.AsyncClient
    ) -> None:
        schema = (await client.get("/openapi.json")).json()
        with_body = [
            (path, method, operation["responses"])
            for path, operations in schema["paths"].items()
            for method, operation in operations.items()
            if "requestBody" in operation
        ]
        assert len(with_body) >= 5
        for path, method, responses in with_body:
            for status in ("400", "413"):
                assert responses[status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }, (path, method, status)


def chunks_of(size: int, total: int | None) -> tuple[Receive, Callable[[], int]]:
    """A client that sends `total` bytes (endlessly, if None) in chunks of `size`; and how many
    bytes the server has read of it so far."""
    sent = 0

    async def receive() -> Message:
        nonlocal sent
        sent += size
        more = total is None or sent < total
        return {"type": "http.request", "body": b"a" * size, "more_body": more}

    return receive, lambda: sent


async def call(
    app: FastAPI | Guards, method: str, path: str, receive: Receive, headers: list[Any]
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One raw ASGI request; the status, headers and body of the answer."""
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "app": app,
    }
    await app(scope, receive, send)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], dict(start["headers"]), body


class TestBodyLimit:
    @pytest.mark.parametrize(
        ("path", "content_type"),
        [
            ("/candidates", b"application/json"),
            ("/inscricao", b"application/x-www-form-urlencoded"),
            ("/paredoes/1/votes", b"application/json"),
            ("/producao/login", b"application/x-www-form-urlencoded"),
        ],
    )
    async def test_an_endless_body_is_refused_having_read_no_more_than_the_limit(
        self, client: httpx.AsyncClient, app: FastAPI, path: str, content_type: bytes
    ) -> None:
        receive, read = chunks_of(4096, None)
        headers = [(b"content-type", content_type), (b"transfer-encoding", b"chunked")]
        status, _, body = await call(app, "POST", path, receive, headers)
        assert status == 413
        assert json.loads(body)["error"] == "payload_too_large"
        assert read() <= LIMIT + 4096

    async def test_a_declared_length_past_the_limit_is_refused_before_reading(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        receive, read = chunks_of(4096, 10**9)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"1000000000")]
        status, _, _ = await call(app, "POST", "/candidates", receive, headers)
        assert status == 413
        assert read() == 0

    async def test_a_body_within_the_limit_reaches_the_route(
        self, client: httpx.AsyncClient
    ) -> None:
        body = application(bio="x" * 2000)
        r = await client.post("/candidates", json=body)
        assert r.status_code == 201, r.text
        # A form within the limit is read, then judged field by field.
        r = await client.post(
            "/inscricao",
            content=b"name=" + b"x" * (LIMIT - 100),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 422
        r = await client.post(
            "/candidates",
            content=b" " * (LIMIT + 1),
            headers={"Content-Type": "application/json"},
        )
        assert_error(r, 413, "payload_too_large")


class TestSecurityHeaders:
    async def test_on_every_kind_of_answer(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        answers = [
            await client.get("/paredoes"),
            await client.get("/paredoes/999"),
            await client.post(
                f"/paredoes/{p['id']}/votes", json=vote(p["nominees"][0]["candidate_id"])
            ),
            await client.post(f"/paredoes/{p['id']}/votes", json={"nominee_id": "x"}),
            await client.get("/", headers={"Accept": "text/html"}),
            await client.get("/static/css/paredao.css"),
            await client.get("/candidates", headers={"Authorization": "Bearer wrong"}),
            await client.post("/candidates", content=b" " * (LIMIT + 1)),
        ]
        assert [r.status_code for r in answers] == [200, 404, 202, 422, 200, 200, 401, 413]
        for r in answers:
            assert r.headers["x-content-type-options"] == "nosniff", r.url
            assert r.headers["referrer-policy"] == "same-origin", r.url


class TestMethodNotAllowed:
    @pytest.mark.parametrize(
        ("path", "allowed"),
        [
            ("/paredoes", "GET, POST"),
            ("/paredoes/1", "GET, PATCH"),
            ("/candidates", "GET, POST"),
            ("/candidates/1", "DELETE, GET, PATCH"),
        ],
    )
    async def test_allow_names_every_method_of_the_path(
        self, client: httpx.AsyncClient, path: str, allowed: str
    ) -> None:
        r = await client.request("PUT", path)
        assert r.status_code == 405
        assert r.headers["allow"] == allowed
        assert r.json()["error"] == "method_not_allowed"


async def hold(event: asyncio.Event) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await event.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


async def no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class TestGuardsAlone:
    async def test_past_the_requests_in_flight_503_with_retry_after(self) -> None:
        release = asyncio.Event()
        guards = Guards(await hold(release), max_body=1024, max_in_flight=2)
        held = [asyncio.create_task(call(guards, "GET", "/", no_body, [])) for _ in range(2)]
        await asyncio.sleep(0.01)
        status, headers, body = await call(guards, "GET", "/", no_body, [])
        assert (status, headers[b"retry-after"]) == (503, b"1")
        assert json.loads(body)["error"] == "unavailable"
        release.set()
        assert [r[0] for r in await asyncio.gather(*held)] == [204, 204]
        assert guards.in_flight == 0
        status, _, _ = await call(guards, "GET", "/", no_body, [])
        assert status == 204

    async def test_an_escaped_exception_is_a_500_in_our_shape_and_raised_on(self) -> None:
        async def broken(scope: Scope, receive: Receive, send: Send) -> None:
            raise RuntimeError("boom")

        messages: list[Message] = []

        async def send(message: Message) -> None:
            messages.append(message)

        guards = Guards(broken, max_body=1024, max_in_flight=10)
        scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        with pytest.raises(RuntimeError, match="boom"):
            await guards(scope, no_body, send)
        assert messages[0]["status"] == 500
        assert (b"x-content-type-options", b"nosniff") in messages[0]["headers"]
        assert json.loads(messages[1]["body"])["error"] == "internal_error"
        assert guards.in_flight == 0


async def test_uvicorns_own_limit_answers_in_our_shape(app: Any) -> None:
    """Past uvicorn's --limit-concurrency, its HTTP protocols answer with the module-level
    `service_unavailable` app: ours once the app is built (with Retry-After, our shape)."""
    for protocol in (h11_impl, httptools_impl):
        assert vars(protocol)["service_unavailable"] is server_busy
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await server_busy({"type": "http", "method": "POST", "path": "/", "headers": []}, receive, send)
    start, body = sent
    assert start["status"] == 503
    assert (b"retry-after", b"1") in start["headers"]
    assert json.loads(body["body"])["error"] == "unavailable"
