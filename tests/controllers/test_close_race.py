"""A close racing a burst of votes: `closes_at` is the time the close holds the write lock
(SQLite) or the paredão's row (PostgreSQL), so every counted vote was cast before it, and
every vote is either a 202 that is counted or a 409 that is not."""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, text

from db import votes as vote_queries
from db.engine import make_engine
from db.votes import Outcome
from model.ballot import Ballot
from pipeline.writer import group_commit
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


class Writing:
    """The first batch keeps the write lock after writing, until the test releases it (as a
    large batch on a slow disk would); every vote handed to the writer is counted."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.release = threading.Event()
        self.enqueued = 0


@pytest.fixture
def writing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Writing]:
    write_batch = vote_queries.write_batch
    enqueue = group_commit.GroupCommitWriter.enqueue
    state = Writing()

    def slowly(connection: Connection, ballots: Sequence[Ballot], **rules: Any) -> list[Outcome]:
        outcomes = write_batch(connection, ballots, **rules)
        if not state.holding.is_set():
            state.holding.set()
            assert state.release.wait(60), "the test never released the lock"
        return outcomes

    def counted(
        writer: group_commit.GroupCommitWriter, ballot: Ballot, deadline: float | None = None
    ) -> "asyncio.Future[Outcome]":
        state.enqueued += 1
        return enqueue(writer, ballot, deadline)

    monkeypatch.setattr(group_commit, "write_batch", slowly)
    monkeypatch.setattr(group_commit.GroupCommitWriter, "enqueue", counted)
    yield state
    state.release.set()  # whatever happened, no writer thread is left waiting


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


# The batch that holds the lock waits on the test in its writer's thread (on the event loop
# it would stop this process, the test with it); the transaction is the same on the loop.
@pytest.mark.settings(vote_writer="thread")
async def test_every_counted_vote_was_cast_before_closes_at(
    client: httpx.AsyncClient, open_paredao: Any, settings: Any, writing: Writing
) -> None:
    p = await open_paredao()
    nominee = p["nominees"][0]["candidate_id"]

    async def cast(voters: range) -> list[httpx.Response]:
        bodies = [{"nominee_id": nominee, "mode": "torcida", "voter_id": f"v{i}"} for i in voters]
        return await asyncio.gather(
            *(client.post(f"/paredoes/{p['id']}/votes", json=body) for body in bodies)
        )

    # A batch is being written (and holds the lock) when the close is asked; more votes are
    # cast while the close waits for the lock, and race it for the lock once it is released.
    first = asyncio.create_task(cast(range(1)))
    assert await asyncio.to_thread(writing.holding.wait, 30), "the first batch never wrote"
    close = asyncio.create_task(client.post(f"/paredoes/{p['id']}/close", headers=ADMIN))
    racing_task = asyncio.create_task(cast(range(1, 41)))
    await until(lambda: writing.enqueued == 41, "every racing vote handed to the writer")
    # The race is on: the close and every racing vote are waiting while the lock is held.
    assert not close.done() and not first.done()
    writing.release.set()
    closed, racing = await close, await racing_task
    votes = [*await first, *racing]

    assert closed.status_code == 200, closed.text
    closes_at = parse(closed.json()["closes_at"])
    assert votes[0].status_code == 202  # stored before the close
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
