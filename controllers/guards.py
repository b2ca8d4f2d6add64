"""What stands in front of every route: bounded bodies, a bounded number of requests in
flight, the security headers, and an error in our shape when everything else failed.

`install_guards(app)` adds them. `Guards` sits in front of every route, and the vote door in
front of all the middlewares (`controllers.vote_door`) does the same for the votes it serves,
counting its requests in flight with the guards' (`Bounds`):

- **Bodies are bounded** (`PAREDAO_MAX_BODY_BYTES`): a declared `Content-Length` past the
  limit is refused before any byte is read, and a body is read at most to the limit before
  the app runs; past it, 413 in our error shape. What the app reads is the body already read.
- **Requests in flight are bounded** per worker (`PAREDAO_LIMIT_CONCURRENCY`): past it, 503
  with `Retry-After` at once, instead of a queue that grows until clients time out.
- **Security headers** on every response: `X-Content-Type-Options: nosniff` (no content
  sniffing of our JSON as HTML) and `Referrer-Policy: same-origin` (no address of ours leaks
  to another site).
- **No bare 500**: an exception that escaped every handler is answered in our error shape
  (and raised on, so the server logs it); a database that cannot answer now (down,
  restarting, every connection taken) is a 503 with Retry-After wherever it was met, the
  vote door and the other middlewares included, not only in the routes.
- **uvicorn's own limit answers in our shape too.** `python main.py serve` gives uvicorn a
  `--limit-concurrency` past ours, which also counts idle keep-alive connections; past it
  uvicorn answers with its module-level `service_unavailable` app, a plain-text 503 without
  Retry-After. `answer_uvicorn_limit_in_our_shape` puts ours in its place.
"""

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controllers.errors import domain_error, http_error, render_domain_error
from model.errors import Unavailable
from services.unit_of_work import UNAVAILABLE_ERRORS, is_transient
from views.api.errors import ErrorBody

log = logging.getLogger(__name__)

HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


def error_response(
    status_code: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code, headers=headers)


@dataclass(slots=True)
class Bounds:
    """A worker's bounds and its count of requests in flight, shared by the guards and the
    vote door (`controllers.vote_door`), which serves votes in front of them."""

    max_body: int
    max_in_flight: int
    in_flight: int = 0


class Guards:
    """The ASGI middleware described in the module doc."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, max_in_flight: int, bounds: Bounds | None = None
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.bounds = bounds or Bounds(max_body, max_in_flight)

    @property
    def in_flight(self) -> int:
        return self.bounds.in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        bounds = self.bounds
        if bounds.in_flight >= bounds.max_in_flight:
            return await server_busy(scope, receive, send_with_headers)
        bounds.in_flight += 1
        try:
            if _has_body(scope):
                body = await self._read_body(scope, receive)
                if body is None:
                    too_large = error_response(
                        413,
                        "payload_too_large",
                        f"the request body is larger than {self.max_body} bytes",
                    )
                    return await too_large(scope, receive, send_with_headers)
                receive = replay_body(body, receive)
            try:
                await self.app(scope, receive, send_with_headers)
            except UNAVAILABLE_ERRORS as exc:
                if started:
                    raise
                await render_domain_error(database_unavailable(exc))(
                    scope, receive, send_with_headers
                )
            except Exception:
                if started:
                    raise
                failure = error_response(
                    500, "internal_error", "the server failed to answer; the error was logged"
                )
                await failure(scope, receive, send_with_headers)
                raise
        finally:
            bounds.in_flight -= 1

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None once it is known to be over the limit (read no further)."""
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def header_of(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a header of the request (names are lower case in ASGI), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    return declared_length(header_of(scope, b"content-length"))


def declared_length(value: bytes | None) -> int | None:
    """A `Content-Length` as a number (None if absent or not a number: the body is counted
    as it is read); past 18 digits, 2**63."""
    if value is None or not value.isdigit():
        return None
    return int(value) if len(value) <= 18 else 2**63


def _has_body(scope: Scope) -> bool:
    """Whether the request says it has a body (HTTP/1.1: a length, or chunks)."""
    length = header_of(scope, b"content-length")
    return (length is not None and length != b"0") or header_of(
        scope, b"transfer-encoding"
    ) is not None


def replay_body(body: bytes, receive: Receive, *, more: bool = False) -> Receive:
    """A `receive` that first gives the body already read (`more`: the client sends more),
    then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 with `Allow` naming every method the path takes: Starlette names only those of the
    first route that matched the path, and our routers split one path across several."""
    assert isinstance(exc, HTTPException)
    methods = _methods_of(request)
    if methods:
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
    return await http_error(request, exc)


def _methods_of(request: Request) -> list[str]:
    """The methods some route takes at the request's path (asked through the routes' own
    matching, which also sees the routes of included routers)."""
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    return [
        method
        for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


def database_unavailable(exc: Exception) -> Unavailable:
    """A lock wait that timed out (another process held the database) or every connection
    taken is a 503 to retry; so is a database that cannot be reached (down, restarting)."""
    if not isinstance(exc, DBAPIError) or is_transient(exc):
        log.warning("database busy: %s", exc)
        return Unavailable("the database is busy: try again", 1)
    log.error("database unavailable: %s", exc.orig)
    return Unavailable("the database is unavailable: try again", 1)


async def database_busy(request: Request, exc: Exception) -> Response:
    """The routes' answer to a database that cannot answer now: the unit of work rolled back."""
    assert isinstance(exc, UNAVAILABLE_ERRORS)
    return await domain_error(request, database_unavailable(exc))


def document_error_bodies(app: FastAPI) -> None:
    """Document in the OpenAPI what the guards and the body parser answer any operation that
    takes a body: 400 (not UTF-8, or JSON too deep to parse) and 413 (too large)."""

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        reference = {"$ref": "#/components/schemas/ErrorBody"}
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "ErrorBody", ErrorBody.model_json_schema()
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if "requestBody" not in operation:
                    continue
                responses = operation.setdefault("responses", {})
                for status, description in (
                    ("400", "The body is not UTF-8, or its JSON is nested too deep to read."),
                    ("413", "The body is larger than the server takes."),
                ):
                    responses.setdefault(
                        status,
                        {
                            "description": description,
                            "content": {"application/json": {"schema": reference}},
                        },
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def server_busy(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer past uvicorn's `--limit-concurrency`: a 503 in our shape, with Retry-After."""
    busy = error_response(
        503, "unavailable", "the server is busy: try again in a second", {"Retry-After": "1"}
    )
    await busy(scope, receive, send)


def answer_uvicorn_limit_in_our_shape() -> None:
    """Replace uvicorn's plain-text 503 past its concurrency limit with `server_busy` (its
    HTTP protocols look the name up in their module at each request)."""
    from uvicorn.protocols.http import h11_impl, httptools_impl

    for protocol in (h11_impl, httptools_impl):
        protocol.service_unavailable = server_busy  # type: ignore[attr-defined]


def install_guards(app: FastAPI, *, max_body: int, max_in_flight: int) -> Bounds:
    """Add the guards, the 405 handler and their docs; returns their bounds (the vote door
    in front of them counts its requests in flight with theirs)."""
    answer_uvicorn_limit_in_our_shape()
    app.add_exception_handler(405, method_not_allowed)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, database_busy)
    document_error_bodies(app)
    bounds = Bounds(max_body, max_in_flight)
    app.add_middleware(Guards, max_body=max_body, max_in_flight=max_in_flight, bounds=bounds)
    return bounds
