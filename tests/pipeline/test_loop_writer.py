"""The writer on the event loop (PAREDAO_VOTE_WRITER=loop, the default on a SQLite file): it
never blocks its worker on another connection's lock, and workers of one file take turns."""

import asyncio
import fcntl
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest

from config import Settings
from db.engine import WriterTurn, make_engine
from pipeline.writer import group_commit
from pipeline.writer.group_commit import GroupCommitWriter
from services.app_services import app_services
from tests.conftest import Clock, skip_on_postgres
from tests.pipeline.test_group_commit import open_paredao, recount, until, vote
from tests.pipeline.test_shedding import locked_by_another_process
from tests.support.app import serving
from tests.support.votes import stored_vote_ids

pytestmark = skip_on_postgres


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Waits so long that a worker blocked by the lock could not pass for a free one.
    return settings.model_copy(
        update={"vote_writer": "loop", "vote_deadline_s": 120.0, "db_busy_timeout_s": 60.0}
    )


def loop_writer(client: httpx.AsyncClient) -> GroupCommitWriter:
    """The vote writer of the app `client` serves."""
    writer = app_services(client._transport.app).sink  # type: ignore[attr-defined]
    assert isinstance(writer, GroupCommitWriter)
    return writer


async def test_a_held_lock_leaves_the_loop_free_and_the_votes_wait_for_it(
    settings: Settings, clock: Clock, database_url: str
) -> None:
    async with serving(settings, clock) as client:
        pid, (a, _) = await open_paredao(client)
        writer = loop_writer(client)
        with locked_by_another_process(database_url) as blocker:
            started = time.monotonic()
            votes = [
                asyncio.ensure_future(
                    client.post(f"/paredoes/{pid}/votes", json=vote(a, voter_id=f"v{i}"))
                )
                for i in range(10)
            ]
            await until(lambda: bool(writer._committing), "a batch being written")
            # The batch waits for the lock in the writer's thread, and the loop serves
            # meanwhile: a sleeper wakes and a read is answered. Blocked on the lock itself,
            # the loop would run nothing for the 60 s busy timeout.
            await asyncio.sleep(0.5)
            read = await client.get(f"/paredoes/{pid}")
            assert read.status_code == 200, read.text
            assert time.monotonic() - started < 30
            assert blocker.poll() is None and not any(v.done() for v in votes)
        answers = await asyncio.gather(*votes)
    assert [r.status_code for r in answers] == [202] * 10
    assert {r.json()["status"] for r in answers} == {"counted"}
    assert len(stored_vote_ids(settings.database_url, pid)) == 10


async def test_workers_of_one_file_take_turns_and_store_every_vote_once(
    settings: Settings, clock: Clock
) -> None:
    async with AsyncExitStack() as stack:
        workers = [await stack.enter_async_context(serving(settings, clock)) for _ in "ab"]
        pid, (a, b) = await open_paredao(workers[0])
        sent = {str(uuid.uuid4()): (i, n) for i in range(2) for n in range(150)}
        answers = await asyncio.gather(
            *(
                workers[i].post(
                    f"/paredoes/{pid}/votes",
                    json=vote((a, b)[n % 2], voter_id=f"w{i}-{n}", vote_id=vote_id),
                )
                for vote_id, (i, n) in sent.items()
            )
        )
        assert [r.status_code for r in answers] == [202] * len(sent), {r.text for r in answers}
        assert stored_vote_ids(settings.database_url, pid) == {uuid.UUID(v) for v in sent}
        counted = await recount(workers[1], pid)
        assert counted["matches"] and counted["recount_total"] == len(sent)


async def test_votes_that_come_while_a_batch_waits_its_turn_go_with_it(
    settings: Settings, clock: Clock, database_url: str
) -> None:
    async with serving(settings, clock) as client:
        pid, (a, _) = await open_paredao(client)
        writer = loop_writer(client)
        written: list[int] = []
        claim_and_write = writer._claim_and_write

        def recorded(connection: Any, batch: list[Any]) -> Any:
            written.append(len(batch))
            return claim_and_write(connection, batch)

        writer._claim_and_write = recorded  # type: ignore[method-assign]
        engine = make_engine(database_url)
        turn = WriterTurn(engine)
        assert turn.take_if_free()  # another worker's batch holds the turn
        try:
            first = asyncio.ensure_future(
                client.post(f"/paredoes/{pid}/votes", json=vote(a, voter_id="first"))
            )
            await until(lambda: bool(writer._committing), "a batch waiting for its turn")
            more = [
                asyncio.ensure_future(
                    client.post(f"/paredoes/{pid}/votes", json=vote(a, voter_id=f"v{i}"))
                )
                for i in range(5)
            ]
            await until(lambda: writer._queue.qsize() == 5, "the votes queued behind it")
        finally:
            turn.release()
            turn.close()
            engine.dispose()
        answers = await asyncio.gather(first, *more)
    assert [r.status_code for r in answers] == [202] * 6
    assert written == [6]


async def test_a_batch_is_cut_once_a_round_of_the_loop_brings_no_vote(
    settings: Settings, clock: Clock
) -> None:
    # A gathering wait this long would hold every vote for 30 s if the writer slept it.
    settings = settings.model_copy(update={"vote_batch_wait_s": 30.0})
    async with serving(settings, clock) as client:
        pid, (a, _) = await open_paredao(client)
        started = time.monotonic()
        answers = await asyncio.gather(
            *(
                client.post(f"/paredoes/{pid}/votes", json=vote(a, voter_id=f"v{i}"))
                for i in range(20)
            )
        )
        assert time.monotonic() - started < 10
    assert [r.status_code for r in answers] == [202] * 20
    assert len(stored_vote_ids(settings.database_url, pid)) == 20


class TestWaitingForTheTurn:
    """A worker whose batch waits for another worker's turn sleeps: a release rings it awake
    (the turn's bell), a timer looks again in case another waiter read the ring."""

    async def test_it_sleeps_until_the_release_rings_and_then_takes_the_turn(
        self, settings: Settings, clock: Clock, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(group_commit, "TURN_WAIT_S", 60.0)  # only the ring can wake it
        async with serving(settings, clock) as client, another_workers_turn(database_url) as other:
            writer = loop_writer(client)
            waiting = asyncio.ensure_future(writer._take_turn(time.monotonic() + 120))
            cpu = time.process_time()
            await asyncio.sleep(0.3)
            # Polling in a loop (as when uvloop rounded a 0.5 ms sleep to 0) burns the core.
            assert time.process_time() - cpu < 0.1
            assert not waiting.done()
            other.release()
            assert await asyncio.wait_for(waiting, 5) is True
            assert not other.take_if_free()  # the waiter holds it now
            writer._turn.release()

    async def test_a_release_it_did_not_hear_is_found_by_its_timer(
        self, settings: Settings, clock: Clock, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(group_commit, "TURN_WAIT_S", 0.01)
        async with serving(settings, clock) as client, another_workers_turn(database_url) as other:
            writer = loop_writer(client)
            # Released without ringing the bell:
            await waits_then_takes_the_turn(
                writer, lambda: fcntl.flock(other._file(), fcntl.LOCK_UN)
            )
            writer._turn.release()

    async def test_without_a_bell_it_looks_on_its_timer(
        self, settings: Settings, clock: Clock, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def no_fifos(*_: object) -> None:
            raise PermissionError("no FIFOs on this file system")

        monkeypatch.setattr(os, "mkfifo", no_fifos)
        monkeypatch.setattr(group_commit, "TURN_WAIT_S", 0.01)
        async with serving(settings, clock) as client, another_workers_turn(database_url) as other:
            writer = loop_writer(client)
            await waits_then_takes_the_turn(writer, other.release)
            assert writer._turn.bell() is None
            writer._turn.release()

    async def test_it_gives_up_at_the_last_call(
        self, settings: Settings, clock: Clock, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(group_commit, "TURN_WAIT_S", 0.01)
        async with serving(settings, clock) as client, another_workers_turn(database_url):
            writer = loop_writer(client)
            started = time.monotonic()
            assert await writer._take_turn(started + 0.1) is False
            assert time.monotonic() - started >= 0.1


async def waits_then_takes_the_turn(writer: GroupCommitWriter, release: Callable[[], None]) -> None:
    """`writer` waits for the turn while another worker holds it, and takes it once `release`
    gives it up."""
    waiting = asyncio.ensure_future(writer._take_turn(time.monotonic() + 120))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    release()
    assert await asyncio.wait_for(waiting, 5) is True


@asynccontextmanager
async def another_workers_turn(database_url: str) -> AsyncIterator[WriterTurn]:
    """The write turn of `database_url`, held as another worker's batch would hold it."""
    engine = make_engine(database_url)
    turn = WriterTurn(engine)
    assert turn.take_if_free()
    try:
        yield turn
    finally:
        turn.release()
        turn.close()
        engine.dispose()
