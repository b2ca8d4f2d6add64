"""Baselines for the vote benchmark: the same request through apps that store nothing.

`fastapi_noop`: a FastAPI route that parses the same body model as the real vote route and
answers 202. `raw_noop`: a bare ASGI app that reads the body and answers 202.
"""

from typing import Any

from fastapi import FastAPI, status

from views.api.votes import VoteCreate

fastapi_noop = FastAPI()


@fastapi_noop.post("/paredoes/{paredao_id}/votes", status_code=status.HTTP_202_ACCEPTED)
async def cast_vote(paredao_id: int, body: VoteCreate) -> dict[str, Any]:
    return {"paredao_id": paredao_id, "nominee_id": body.nominee_id, "mode": body.mode}


async def raw_noop(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"accepted": true}'})
