"""Load is shed by time: a vote the database cannot take within its deadline is answered 503
with Retry-After when the deadline passes, and is never stored afterwards; other callers
blocked by a lock get a 503 too, never a 500 or an endless wait."""

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from config import Settings
from db.engine import make_engine
from tests.conftest import ADMIN, application, skip_on_postgres
from tests.pipeline.test_group_commit import open_paredao, recount, total_votes, vote

DEADLINE_S = 0.5

# Another process takes SQLite's write lock (or, on PostgreSQL, an exclusive lock on the tally
# that every vote batch updates), says so, and keeps it until its stdin is closed.
BLOCKER = """
import sys
url = sys.argv[1]
if url.startswith("sqlite"):
    import sqlite3
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
else:
    import psycopg
    connection = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
    connection.execute("LOCK TABLE vote_tally IN ACCESS EXCLUSIVE MODE")
print("locked", flush=True)
sys.stdin.read()
connection.rollback() if hasattr(connection, "rollback") else None
"""


@contextmanager
def locked_by_another_process(database_url: str) -> Iterator[subprocess.Popen[str]]:
    """The lock is held for as long as the block runs, released when it ends."""
    blocker = subprocess.Popen(
        [sys.executable, "-c", BLOCKER, database_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert blocker.stdin is not None and blocker.stdout is not None
    try:
        assert blocker.stdout.readline().strip() == "locked"
        yield blocker
    finally:
        blocker.stdin.close()
        blocker.wait(timeout=30)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"vote_deadline_s": DEADLINE_S, "db_busy_timeout_s": 1.0})


async def test_a_vote_not_stored_within_its_deadline_is_503_and_never_stored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    pid, (a, b) = await open_paredao(client)
    late_ids = [str(uuid.uuid4()) for _ in range(20)]

    async def timed(body: dict[str, Any]) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        r = await client.post(f"/paredoes/{pid}/votes", json=body)
        return r, time.monotonic() - started

    with locked_by_another_process(database_url) as blocker:
        answers = await asyncio.gather(
            *(timed(vote(a, voter_id=f"v{i}", vote_id=late_ids[i])) for i in range(20))
        )
        for r, took in answers:
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "1"
            assert r.json()["error"] == "unavailable"
            assert "was not stored" in r.json()["detail"]
            assert took >= DEADLINE_S - 0.05, took  # not before its deadline
        # Answered while the lock is still held (it is held until this block ends): by the
        # deadline, not by the lock's release, however slow the machine.
        assert blocker.poll() is None
    # The lock is gone: the writer took its batch, found every vote past its deadline, and
    # stored none of them; new votes go through.
    r = await client.post(f"/paredoes/{pid}/votes", json=vote(b, voter_id="after"))
    assert r.status_code == 202, r.text
    for vote_id in late_ids:
        r = await client.get(f"/paredoes/{pid}/votes/{vote_id}")
        assert r.status_code == 404, r.text
    assert await total_votes(client, pid) == 1
    assert (await recount(client, pid))["recount_total"] == 1
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM votes")).scalar_one()
    finally:
        engine.dispose()
    assert stored == 1
    # A client that retries one of them with the same vote_id gets it stored, once.
    r = await client.post(
        f"/paredoes/{pid}/votes", json=vote(a, voter_id="v0", vote_id=late_ids[0])
    )
    assert r.status_code == 202, r.text
    assert await total_votes(client, pid) == 2


@skip_on_postgres
async def test_an_admin_write_behind_a_held_lock_is_503_not_500(
    client: httpx.AsyncClient, database_url: str
) -> None:
    with locked_by_another_process(database_url):
        r = await client.post("/candidates", json=application(), headers=ADMIN)
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert r.json() == {"error": "unavailable", "detail": "the database is busy: try again"}
    r = await client.post("/candidates", json=application(), headers=ADMIN)
    assert r.status_code == 201, r.text
