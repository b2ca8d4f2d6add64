"""A close racing a burst of votes: `closes_at` is the time the close holds the write lock
(SQLite) or the paredão's row (PostgreSQL), so every counted vote was cast before it, and
every vote is either a 202 that is counted or a 409 that is not."""

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, text

from db import votes as vote_queries
from db.engine import make_engine
from db.votes import Outcome
from model.ballot import Ballot
from pipeline import group_commit
from tests.conftest import ADMIN, TEST_NOW, Clock


class TickingClock(Clock):
    """A clock that moves a millisecond each time it is read, as a real one moves while the
    server works: every reading is later than the one before."""

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return TickingClock(TEST_NOW)


@pytest.fixture
def writing(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Each batch keeps the write lock a while after writing, as a large batch on a slow disk
    would; the event is set while the first one holds it."""
    write_batch = vote_queries.write_batch
    holding = threading.Event()

    def slowly(connection: Connection, ballots: Sequence[Ballot], **rules: Any) -> list[Outcome]:
        outcomes = write_batch(connection, ballots, **rules)
        holding.set()
        time.sleep(0.3)
        return outcomes

    monkeypatch.setattr(group_commit, "write_batch", slowly)
    return holding


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


async def test_every_counted_vote_was_cast_before_closes_at(
    client: httpx.AsyncClient, open_paredao: Any, settings: Any, writing: threading.Event
) -> None:
    p = await open_paredao()
    nominee = p["nominees"][0]["candidate_id"]

    async def cast(voters: range) -> list[httpx.Response]:
        bodies = [{"nominee_id": nominee, "mode": "torcida", "voter_id": f"v{i}"} for i in voters]
        return await asyncio.gather(
            *(client.post(f"/paredoes/{p['id']}/votes", json=body) for body in bodies)
        )

    # A batch is being written (and holds the lock) when the close is asked; more votes are
    # cast while the close waits for the lock, and race it for the lock after that batch.
    first = asyncio.create_task(cast(range(20)))
    await asyncio.to_thread(writing.wait, 5)
    close = asyncio.create_task(client.post(f"/paredoes/{p['id']}/close", headers=ADMIN))
    await asyncio.sleep(0.05)
    racing = await cast(range(20, 60))
    closed = await close
    votes = [*await first, *racing]

    assert closed.status_code == 200, closed.text
    closes_at = parse(closed.json()["closes_at"])
    assert [r.status_code for r in votes[:20]] == [202] * 20  # stored before the close
    assert {r.status_code for r in racing} <= {202, 409}
    assert all(r.json()["error"] == "voting_not_open" for r in racing if r.status_code == 409)
    accepted = {
        r.json()["vote_id"]: parse(r.json()["accepted_at"]) for r in votes if r.status_code == 202
    }
    late = sorted(at for at in accepted.values() if at >= closes_at)
    assert late == [], f"{len(late)} counted votes cast at or after closes_at {closes_at}"

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT count(*) FROM votes WHERE paredao_id = :p"), {"p": p["id"]}
            ).scalar_one()
    finally:
        engine.dispose()
    assert stored == len(accepted)  # every 202 stored, no 409 stored
    results = (await client.get(f"/paredoes/{p['id']}/results")).json()
    assert results["total_votes"] == len(accepted)
