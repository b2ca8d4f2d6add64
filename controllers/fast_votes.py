"""A lean ASGI path for `POST /paredoes/{id}/votes`, the one call that takes the live burst.

FastAPI's generic machinery (routing through every route, dependency solving, threadpool
hops, response validation) costs more than storing the vote. This middleware serves the
vote route directly: it parses the body with the same `VoteCreate` model, calls the same
`VotingService`, and answers with the same JSON. Anything it does not handle itself (a body
that fails validation, another content type) goes on to the FastAPI route with the body
replayed, so errors and docs stay exactly those of the documented route.
"""

import re
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controllers.errors import render_domain_error
from model.errors import DomainError
from services.voting import VotingService
from views.votes import VoteCreate, accepted_json

VOTE_PATH = re.compile(r"/paredoes/([1-9][0-9]{0,17})/votes")
MAX_BODY = 16 * 1024
JSON_202_HEADERS = [(b"content-type", b"application/json")]


class FastVotes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        match = VOTE_PATH.fullmatch(scope["path"])
        if match is None or not _is_json(scope):
            return await self.app(scope, receive, send)

        body, complete = await _read_body(receive)
        if not complete:  # too large to be a vote: let the route answer
            return await self.app(scope, _replay(body, receive, more=True), send)
        try:
            vote = VoteCreate.model_validate_json(body)
        except ValidationError:
            return await self.app(scope, _replay(body, receive, more=False), send)

        voting: VotingService = scope["app"].state.voting
        try:
            accepted = await voting.cast(int(match[1]), vote, scope["app"].state.clock())
        except DomainError as exc:
            return await render_domain_error(exc)(scope, receive, send)
        payload = accepted_json(accepted)
        await send(
            {
                "type": "http.response.start",
                "status": 202,
                "headers": [*JSON_202_HEADERS, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"application/json")
    return False


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, and False if it grew past MAX_BODY (then only what was read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive, *, more: bool) -> Receive:
    """A `receive` that first gives back the body already read, then the rest of the stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": more}
            return message
        return await receive()

    return replay
