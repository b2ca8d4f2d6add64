"""The audit log: every admin action appended in its own transaction, chained by hash, read
with GET /audit, and checked whole by `python main.py audit-verify`."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from db.engine import make_engine
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY, application
from tests.controllers.test_pages import login

ROOT = Path(__file__).resolve().parents[2]
GENESIS = "0" * 64


async def entries(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        r = await client.get("/audit", params={"limit": 100, "offset": len(items)}, headers=ADMIN)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        if len(items) >= page["total"]:
            return items


def verify(items: list[dict[str, Any]]) -> None:
    """The chain as the issue states it, recomputed from what the API shows."""
    prev = GENESIS
    for seq, item in enumerate(items, start=1):
        assert item["seq"] == seq
        assert item["prev_hash"] == prev
        fields = {k: v for k, v in item.items() if k not in ("hash", "prev_hash")}
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert item["hash"] == hashlib.sha256(f"{prev}\n{canonical}".encode()).hexdigest()
        prev = item["hash"]


def audit_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
    }
    return subprocess.run(
        [sys.executable, "main.py", "audit-verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def tamper(database_url: str, statement: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


class TestEveryAdminActionIsLogged:
    async def test_the_actions_in_order_chained(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        ids = await make_housemates(2)
        r = await client.post("/candidates", json=application(email="x@example.com"))
        applicant = r.json()["id"]
        r = await client.post(
            "/paredoes",
            json={"title": "P", "kind": "eliminate", "nominee_ids": ids, "require_captcha": False},
            headers=ADMIN,
        )
        pid = r.json()["id"]
        calls = [
            ("POST", f"/paredoes/{pid}/open", None),
            ("PATCH", f"/paredoes/{pid}", {"closes_at": "2026-11-23T00:00:00Z"}),
            ("POST", f"/paredoes/{pid}/recount", None),
            ("POST", f"/paredoes/{pid}/close", None),
            ("DELETE", f"/candidates/{applicant}", None),
        ]
        request_ids = []
        for method, path, body in calls:
            r = await client.request(method, path, json=body, headers=ADMIN)
            assert r.status_code in (200, 204), r.text
            request_ids.append(r.headers["x-request-id"])
        items = await entries(client)
        verify(items)
        assert [(i["action"], i["target"]) for i in items] == [
            ("candidate.update", f"candidate:{ids[0]}"),
            ("candidate.update", f"candidate:{ids[1]}"),
            ("paredao.create", f"paredao:{pid}"),
            ("paredao.open", f"paredao:{pid}"),
            ("paredao.update", f"paredao:{pid}"),
            ("paredao.recount", f"paredao:{pid}"),
            ("paredao.close", f"paredao:{pid}"),
            ("candidate.delete", f"candidate:{applicant}"),
        ]
        assert [i["request_id"] for i in items[3:]] == request_ids
        actors = {i["actor"] for i in items}
        assert len(actors) == 1
        (actor,) = actors
        assert actor.startswith("admin:") and len(actor) == len("admin:") + 16
        assert ADMIN_TOKEN not in json.dumps(items)
        assert items[0]["at"] == "2026-11-21T22:00:00Z"

    async def test_the_production_session_is_named_not_revealed(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        before = len(await entries(client))
        csrf = await login(client)
        for path in (
            f"/paredoes/{paredao['id']}/recontar",
            f"/paredoes/{paredao['id']}/encerrar",
            "/sair",
        ):
            r = await client.post(f"/producao{path}", data={"csrf_token": csrf})
            assert r.status_code in (200, 303), r.text
        items = (await entries(client))[before:]
        verify(await entries(client))
        assert [i["action"] for i in items] == [
            "production.login",
            "paredao.recount",
            "paredao.close",
            "production.logout",
        ]
        assert len({i["actor"] for i in items}) == 1
        assert items[0]["actor"].startswith("session:")
        cookie_values = [c.value for c in client.cookies.jar]
        assert not any(v and v in json.dumps(items) for v in cookie_values)


class TestNoActionNoEntry:
    async def test_a_refused_action_leaves_no_entry(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        before = await entries(client)
        r = await client.post(f"/paredoes/{paredao['id']}/open", headers=ADMIN)  # already open
        assert r.status_code == 409
        r = await client.post("/paredoes/999/close", headers=ADMIN)
        assert r.status_code == 404
        r = await client.patch("/candidates/999", json={"city": "Recife"}, headers=ADMIN)
        assert r.status_code == 404
        r = await client.post(f"/paredoes/{paredao['id']}/open")  # no token: no action
        assert r.status_code == 401
        assert await entries(client) == before

    async def test_the_log_is_for_admins(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/audit")
        assert (r.status_code, r.json()["error"]) == (401, "unauthorized")

    async def test_pages_oldest_first(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        await make_housemates(3)
        r = await client.get("/audit", params={"limit": 2, "offset": 1}, headers=ADMIN)
        page = r.json()
        assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
        assert [i["seq"] for i in page["items"]] == [2, 3]


class TestAuditVerify:
    async def test_a_changed_or_missing_row_is_named(
        self, client: httpx.AsyncClient, make_housemates: Any, database_url: str
    ) -> None:
        await make_housemates(3)
        done = audit_verify(database_url)
        assert done.returncode == 0, done.stderr
        assert "3 entries" in done.stderr
        tamper(database_url, "UPDATE audit_log SET target = 'candidate:999' WHERE seq = 2")
        done = audit_verify(database_url)
        assert done.returncode == 1
        assert "entry 2" in done.stderr and "hash" in done.stderr
        tamper(database_url, "DELETE FROM audit_log WHERE seq = 2")
        done = audit_verify(database_url)
        assert done.returncode == 1
        assert "entry 3" in done.stderr and "missing" in done.stderr
