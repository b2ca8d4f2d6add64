"""Paredões made the way the production team makes them: through the API."""

import asyncio
import uuid
from typing import Any

import httpx

from tests.support.api import ADMIN, application


async def make_housemates(client: httpx.AsyncClient, count: int, first: int = 0) -> list[int]:
    """Apply `count` candidates ("Brother {first}", "Brother {first + 1}", …; emails of their
    own) and promote them to housemates; their ids."""
    ids = []
    for i in range(first, first + count):
        email = f"b{i}-{uuid.uuid4().hex[:8]}@example.com"
        r = await client.post("/candidates", json=application(name=f"Brother {i}", email=email))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        r = await client.patch(
            f"/candidates/{ids[-1]}", json={"status": "housemate"}, headers=ADMIN
        )
        assert r.status_code == 200, r.text
    return ids


async def create_paredao(
    client: httpx.AsyncClient, nominee_ids: list[int], **fields: Any
) -> dict[str, Any]:
    """Create a paredão of these housemates (captcha off unless `fields` ask); scheduled."""
    body = {
        "title": "Paredão",
        "kind": "eliminate",
        "nominee_ids": nominee_ids,
        "require_captcha": False,
        **fields,
    }
    r = await client.post("/paredoes", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    paredao: dict[str, Any] = r.json()
    return paredao


async def open_paredao_of(
    client: httpx.AsyncClient, nominee_ids: list[int], **fields: Any
) -> dict[str, Any]:
    """Create a paredão of these housemates (captcha off unless `fields` ask) and open it."""
    created = await create_paredao(client, nominee_ids, **fields)
    r = await client.post(f"/paredoes/{created['id']}/open", headers=ADMIN)
    assert r.status_code == 200, r.text
    paredao: dict[str, Any] = r.json()
    return paredao


async def make_paredao(
    client: httpx.AsyncClient, nominees: int = 3, **fields: Any
) -> dict[str, Any]:
    """A paredão of `nominees` new housemates, opened now (the server's clock)."""
    return await open_paredao_of(client, await make_housemates(client, nominees), **fields)


def make_paredao_at(url: str, nominees: int = 2, **fields: Any) -> dict[str, Any]:
    """`make_paredao` against a server at `url`, from code outside an event loop."""

    async def make() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            return await make_paredao(client, nominees, **fields)

    return asyncio.run(make())


def nominee_ids(paredao: dict[str, Any]) -> list[int]:
    return [n["candidate_id"] for n in paredao["nominees"]]
