"""What every client of a test server sends: the admin credentials, a valid application, a
vote."""

import uuid
from collections.abc import Mapping
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


def assert_error(
    r: httpx.Response, status: int, code: str | None = None, *, detail: str | None = None
) -> None:
    """`r` is refused with `status`, with the error `code` and a detail that says `detail`
    where they are given."""
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["error"] == code
    if detail is not None:
        assert detail in r.json()["detail"]


def assert_api_error(
    r: httpx.Response, status: int, code: str, headers: Mapping[str, str] | None = None
) -> None:
    """`r` answers `status` in the API's error shape, `{"error": code, "detail": ...}` and no
    more, with these `headers` among its own."""
    assert r.status_code == status, r.text
    for name, value in (headers or {}).items():
        assert r.headers[name] == value, name
    assert r.json()["error"] == code
    assert set(r.json()) == {"error", "detail"}
