"""What every request leaves behind: its id, one JSON log line and its metrics; and the
`/metrics` route that exports them.

`RequestTelemetry` is the outermost middleware, so it sees every request, the ones the lean
vote path answers before FastAPI's routing included. Requests are labelled by their route
template (`/paredoes/{paredao_id}/votes`), never by their path, so the labels stay few and
carry no ids.
"""

import logging
import os
import re
import time

from fastapi import APIRouter, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controllers.votes import VOTE_PATH, VOTE_ROUTE
from observability import metrics
from observability.logs import CLEAN, request_id, scrub

access_log = logging.getLogger("paredao.access")

UNMATCHED = "<unmatched>"  # no route: 404s and the like, whatever their path
# A request id we pass on as given: short, and nothing that could break a log line or a header.
GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def read_metrics() -> Response:
    """Every worker's counters added up (multiprocess mode); not reachable through NGINX."""
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


class RequestTelemetry:
    """Gives each request an id (the client's `X-Request-ID`, as NGINX sends it, else a new
    one), answers it in `X-Request-ID`, logs one line when the answer is sent, and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rid = _request_id(scope)
        token = request_id.set(rid)
        status = 500  # what the server answers if the app fails before it answers
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method, route = scope["method"], route_of(scope)
            metrics.request_answered(method, route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        # Our route template, a method, numbers and an id that passed the
                        # scrub at the door (`_request_id`): nothing to scrub again.
                        CLEAN: method in metrics.METHODS,
                    },
                )
            request_id.reset(token)


def route_of(scope: Scope) -> str:
    """The template of the route that served the request (the lean vote path's is the vote
    route's), or `<unmatched>`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope["method"] == "POST" and VOTE_PATH.fullmatch(scope["path"]):
        return VOTE_ROUTE
    return UNMATCHED


def _request_id(scope: Scope) -> str:
    """The client's id if it is short, plain and nothing the log scrub would hide (a CPF,
    a token), else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = str(value.decode("latin-1"))
            if GOOD_REQUEST_ID.fullmatch(given) and scrub(given) == given:
                return given
            break
    return os.urandom(16).hex()
