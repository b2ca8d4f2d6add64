"""What every client of a test server sends: the admin credentials, a valid application, a
vote."""

import uuid
from typing import Any

import httpx

from views.api.candidates import APPLICATION_EXAMPLE

# As long as the server requires (PAREDAO_ADMIN_TOKEN and PAREDAO_SECRET_KEY: 32 or more).
ADMIN_TOKEN = "test-admin-token-0123456789abcdefghij"
SECRET_KEY = "test-secret-key-0123456789abcdefghijklm"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def application(**overrides: Any) -> dict[str, Any]:
    """The application the API documents as its example, with `overrides` applied."""
    return {**APPLICATION_EXAMPLE, **overrides}


async def cast_vote(client: httpx.AsyncClient, paredao_id: int, **body: Any) -> httpx.Response:
    """POST `body` as a vote: a torcida vote of a voter of its own unless `body` says."""
    body.setdefault("mode", "torcida")
    body.setdefault("voter_id", uuid.uuid4().hex)
    return await client.post(f"/paredoes/{paredao_id}/votes", json=body)


def assert_refused(r: httpx.Response, status: int, detail: str) -> None:
    """`r` is a refusal with `status` whose detail says `detail`."""
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]
