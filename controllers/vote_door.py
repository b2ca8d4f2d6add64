"""The vote door: `POST /paredoes/{id}/votes` served in front of every middleware.

The live burst is this one request, and what stands around a route costs more than the vote:
FastAPI's routing and dependency solving, and the layers every request crosses (Starlette's
error and FastAPI's telemetry and body-limit middlewares, then ours: `RequestTelemetry`,
`Guards`), each with its own `send` wrapper, the body read twice and the headers scanned
once per layer. `VoteDoor` wraps the whole stack (`app.Paredao.build_middleware_stack`) and
serves a vote itself, doing once and inline what those layers do for it:

- the guards' (`controllers.guards`): the requests in flight counted with theirs (`Bounds`),
  the body read to its bound, the security headers, a database that cannot answer now as a
  503 and any other failure as a 500 in our shape (raised on, for the server to log);
- the telemetry's (`controllers.telemetry`): the request id (`X-Request-ID`), its line in the
  log and its counts, under the route template;
- the route's (`controllers.votes.cast_vote`): the `VoteCreate` body, `VotingService.cast`,
  the 202 (`accepted_json`) or the refusal in `{"error", "detail"}`.

Whatever it does not serve goes down the stack as any request does, with the body it read
replayed: a shed request (503) or a body past the bound (413), one that is not JSON or fails
validation (the route answers it, 422), a paredão id past the database's integers. So the
errors, the docs and every other path stay exactly those of the route and the middlewares.
"""

import time

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from controllers.errors import render_domain_error
from controllers.guards import (
    SECURITY_HEADERS,
    Bounds,
    database_unavailable,
    declared_length,
    error_response,
    replay_body,
)
from controllers.telemetry import STARTED, answered, request_id_of
from controllers.votes import VOTE_PATH, VOTE_ROUTE
from model.errors import DomainError
from observability.logs import request_id
from services.app_services import app_services
from services.unit_of_work import UNAVAILABLE_ERRORS
from views.api.params import MAX_ID
from views.api.votes import VoteCreate, accepted_json

# The 202's headers after its length, in the order the route's `Response` and the
# middlewares give them; the request id follows.
ACCEPTED_HEADERS = ((b"content-type", b"application/json"), *SECURITY_HEADERS)
_READ = frozenset(
    (b"content-length", b"transfer-encoding", b"content-type", b"authorization", b"x-request-id")
)


class VoteDoor:
    """Serves a vote in front of `app`, the app's middleware stack (see the module doc)."""

    def __init__(self, app: ASGIApp, bounds: Bounds) -> None:
        self.app = app
        self.bounds = bounds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        match = VOTE_PATH.fullmatch(scope["path"])
        bounds = self.bounds
        if match is None or bounds.in_flight >= bounds.max_in_flight:
            return await self.app(scope, receive, send)  # not a vote, or shed by the guards
        paredao_id = int(match[1])
        if paredao_id > MAX_ID:  # the route answers 422
            return await self.app(scope, receive, send)
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _READ and name not in headers:  # the first of each, as the layers read
                headers[name] = value
        length = headers.get(b"content-length")
        if (length is None or length == b"0") and b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)  # no body: the route answers 422
        declared = declared_length(length)
        if declared is not None and declared > bounds.max_body:
            return await self.app(scope, receive, send)  # the guards answer 413 unread

        started = time.perf_counter()
        handed_over: Receive | None = None
        bounds.in_flight += 1
        try:
            vote, handed_over = await self._read_vote(scope, receive, headers)
            if vote is not None:
                await self._serve(scope, send, paredao_id, vote, headers, started)
        finally:
            bounds.in_flight -= 1
        if handed_over is not None:
            scope[STARTED] = started
            await self.app(scope, handed_over, send)

    async def _read_vote(
        self, scope: Scope, receive: Receive, headers: dict[bytes, bytes]
    ) -> tuple[VoteCreate | None, Receive | None]:
        """The vote in the body; or, for the stack to answer, a `receive` that replays what
        was read (a body past the bound, not JSON, not a vote, a client gone)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # gone: the guards take what came as the body
                return None, replay_body(b"".join(chunks), receive, more=False)
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.bounds.max_body:  # the guards answer 413, reading no further
                return None, replay_body(b"".join(chunks), receive, more=True)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        content_type = headers.get(b"content-type", b"")
        if content_type.split(b";")[0].strip().lower() != b"application/json":
            return None, replay_body(body, receive, more=False)  # the route answers (422)
        try:
            return VoteCreate.model_validate_json(body), None
        except ValidationError:
            return None, replay_body(body, receive, more=False)  # the route answers (422)

    async def _serve(
        self,
        scope: Scope,
        send: Send,
        paredao_id: int,
        vote: VoteCreate,
        headers: dict[bytes, bytes],
        started: float,
    ) -> None:
        """Cast the vote and answer it, with what the guards and the telemetry would add."""
        rid = request_id_of(headers.get(b"x-request-id"))
        token = request_id.set(rid)
        rid_header = (b"x-request-id", rid.encode())
        status = 500  # what the server answers if this fails before it answers
        answering = False
        try:
            try:
                services = app_services(scope["app"])
                authorization = headers.get(b"authorization")
                accepted = await services.voting.cast(
                    paredao_id,
                    vote,
                    services.clock(),
                    None if authorization is None else authorization.decode("latin-1"),
                )
            except DomainError as exc:
                refusal = render_domain_error(exc)
            except UNAVAILABLE_ERRORS as exc:
                refusal = render_domain_error(database_unavailable(exc))
            else:
                body = accepted_json(accepted)
                status = 202
                answering = True
                await send(
                    {
                        "type": "http.response.start",
                        "status": 202,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            *ACCEPTED_HEADERS,
                            rid_header,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            status = refusal.status_code
            answering = True
            await _send_error(send, status, refusal.body, refusal.raw_headers, rid_header)
        except Exception:
            if answering:
                raise
            status = 500
            failure = error_response(
                500, "internal_error", "the server failed to answer; the error was logged"
            )
            answering = True
            await _send_error(send, 500, failure.body, failure.raw_headers, rid_header)
            raise
        finally:
            answered("POST", VOTE_ROUTE, status, time.perf_counter() - started)
            request_id.reset(token)


async def _send_error(
    send: Send,
    status: int,
    body: bytes | memoryview,
    raw_headers: list[tuple[bytes, bytes]],
    rid_header: tuple[bytes, bytes],
) -> None:
    """An error answer, with the headers the guards and the telemetry add to every answer."""
    present = {name for name, _ in raw_headers}
    extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*raw_headers, *extra, rid_header],
        }
    )
    await send({"type": "http.response.body", "body": body})
