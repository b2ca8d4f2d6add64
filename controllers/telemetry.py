"""What every request leaves behind: its id, one JSON log line and its metrics; and the
`/metrics` route that exports them.

`RequestTelemetry` is the outermost middleware, so it sees every request but the votes the
vote door (`controllers.vote_door`) serves in front of the middlewares: the door gives those
the same id, line and counts with `request_id_of` and `answered`. Requests are labelled by
their route template (`/paredoes/{paredao_id}/votes`), never by their path, so the labels stay
few and carry no ids.
"""

import logging
import os
import re
import time

from fastapi import APIRouter, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controllers.guards import header_of
from controllers.votes import VOTE_PATH, VOTE_ROUTE
from observability import metrics
from observability.logs import CLEAN, plain_handler, request_id, request_line, scrub

access_log = logging.getLogger("paredao.access")

UNMATCHED = "<unmatched>"  # no route: 404s and the like, whatever their path
# When a request arrived (`time.perf_counter()`), set by the vote door when it hands one over.
STARTED = "paredao.started"
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
        started = scope.get(STARTED) or time.perf_counter()
        rid = request_id_of(header_of(scope, b"x-request-id"))
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
            answered(scope["method"], route_of(scope), status, time.perf_counter() - started)
            request_id.reset(token)


def answered(method: str, route: str, status: int, seconds: float) -> None:
    """Count a request answered and write its line (within its request id's context)."""
    metrics.request_answered(method, route, status, seconds)
    if not access_log.isEnabledFor(logging.INFO):
        return
    handler = plain_handler(access_log)
    if handler is not None and method in metrics.METHODS:
        # The line its record would give (`_request_record`), made at once.
        duration_ms = round(seconds * 1000, 3)
        line = request_line(
            time.time(), access_log.name, method, route, status, duration_ms, request_id.get()
        )
        handler.take(line)
    else:
        access_log.handle(_request_record(method, route, status, seconds))


# What every request line's record holds but its words and its time: a record made from this
# costs a third of `Logger.makeRecord`'s (which looks up and computes them each time).
_RECORD = vars(
    access_log.makeRecord(
        access_log.name, logging.INFO, "(unknown file)", 0, "", (), None, "(unknown function)"
    )
)


def _request_record(method: str, route: str, status: int, seconds: float) -> logging.LogRecord:
    """The request line's record, as `access_log.info` would make it."""
    record = logging.LogRecord.__new__(logging.LogRecord)
    fields = record.__dict__
    fields.update(_RECORD)
    now = time.time()
    fields["created"] = now
    fields["msecs"] = int((now - int(now)) * 1000) + 0.0
    fields["relativeCreated"] = _RECORD["relativeCreated"] + (now - _RECORD["created"]) * 1000
    fields["msg"] = "%s %s %d"
    fields["args"] = (method, route, status)
    line = {"method": method, "route": route, "status": status}
    line["duration_ms"] = round(seconds * 1000, 3)
    if method in metrics.METHODS:
        # Our route template, a method, numbers and an id that passed the scrub at the door
        # (`request_id_of`): nothing to scrub again.
        fields[CLEAN] = line
    else:
        fields.update(line)
    return record


def route_of(scope: Scope) -> str:
    """The template of the route that served the request (a vote the guards answered before
    routing, a 413 or a 503, is the vote route's), or `<unmatched>`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope["method"] == "POST" and VOTE_PATH.fullmatch(scope["path"]):
        return VOTE_ROUTE
    return UNMATCHED


def request_id_of(given: bytes | None) -> str:
    """The client's id (its `X-Request-ID`) if it is short, plain and nothing the log scrub
    would hide (a CPF, a token), else a new one."""
    if given is not None:
        text = given.decode("latin-1")
        if GOOD_REQUEST_ID.fullmatch(text) and scrub(text) == text:
            return text
    return os.urandom(16).hex()
