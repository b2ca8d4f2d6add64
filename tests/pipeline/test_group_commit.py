"""The group-commit writer against a real database: durability, load shedding, exactness."""

import asyncio
import random
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text

from config import Settings
from db.engine import make_engine
from main import create_app
from model.ballot import Ballot
from model.errors import Unavailable
from model.vote import VoteMode
from pipeline.writer.group_commit import GroupCommitWriter
from services.app_services import app_services
from tests.conftest import ADMIN, ADMIN_TOKEN, ON_POSTGRES, Clock, cpf
from tests.support.paredoes import make_paredao, nominee_ids


def vote(
    nominee_id: int, mode: str = "torcida", voter_id: str = "v", **extra: Any
) -> dict[str, Any]:
    return {"nominee_id": nominee_id, "mode": mode, "voter_id": voter_id, **extra}


async def open_paredao(client: httpx.AsyncClient, nominees: int = 2) -> tuple[int, list[int]]:
    paredao = await make_paredao(client, nominees)
    return paredao["id"], nominee_ids(paredao)


async def total_votes(client: httpx.AsyncClient, pid: int) -> int:
    r = await client.get(f"/paredoes/{pid}/stats", headers=ADMIN)
    return int(r.json()["total_votes"])


async def recount(client: httpx.AsyncClient, pid: int) -> dict[str, Any]:
    r = await client.post(f"/paredoes/{pid}/recount", headers=ADMIN)
    body: dict[str, Any] = r.json()
    return body


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Wait (bounded) until `condition` holds: on an event, not for a guessed time."""
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


@contextmanager
def write_blocked(database_url: str) -> Iterator[None]:
    """Another connection blocks every vote writer until the block ends: on SQLite it holds
    the write lock, on PostgreSQL an exclusive lock on the tally each batch updates."""
    if database_url.startswith("sqlite"):
        blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            connection.execute(text("LOCK TABLE vote_tally IN ACCESS EXCLUSIVE MODE"))
            try:
                yield
            finally:
                connection.rollback()
    finally:
        engine.dispose()


class TestLoadShedding:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"vote_queue_size": 2})

    async def test_full_queue_answers_503_with_retry_after_and_loses_nothing(
        self, client: httpx.AsyncClient, app: FastAPI, database_url: str
    ) -> None:
        pid, (a, _) = await open_paredao(client)
        writer = app_services(app).sink
        assert isinstance(writer, GroupCommitWriter)
        with write_blocked(database_url):
            first = asyncio.create_task(
                client.post(f"/paredoes/{pid}/votes", json=vote(a, voter_id="first"))
            )
            await until(lambda: len(writer._committing) == 1, "the writer blocked on the first")
            burst = [
                asyncio.create_task(
                    client.post(f"/paredoes/{pid}/votes", json=vote(a, voter_id=f"v{i}"))
                )
                for i in range(6)
            ]
            # The queue holds two, the writer's next batch waits for its turn: four are shed
            # at once, and the others wait for the lock that is still held.
            await until(lambda: sum(t.done() for t in burst) >= 4, "the votes shed")
            shed = [t.result() for t in burst if t.done()]
            assert len(shed) == 4
            for r in shed:
                assert r.status_code == 503
                assert r.headers["Retry-After"] == "1"
                assert r.json()["error"] == "unavailable"
        answers = [await first] + [await t for t in burst]
        accepted = [r for r in answers if r.status_code == 202]
        assert len(accepted) == 3
        assert await total_votes(client, pid) == 3


class TestFailedBatch:
    async def test_a_batch_that_cannot_commit_is_503_and_counts_nothing(
        self, client: httpx.AsyncClient, database_url: str
    ) -> None:
        pid, (a, _) = await open_paredao(client)
        body = vote(a, voter_id="v", vote_id=str(uuid.uuid4()))
        engine = make_engine(database_url)
        try:
            # The tally's table goes away under the writer: the batch's transaction fails.
            with engine.begin() as connection:
                connection.execute(text("ALTER TABLE vote_tally RENAME TO vote_tally_away"))
            r = await client.post(f"/paredoes/{pid}/votes", json=body)
            assert r.status_code == 503
            assert r.headers["Retry-After"] == "1"
            assert "retry with the same vote_id" in r.json()["detail"]
            with engine.begin() as connection:
                connection.execute(text("ALTER TABLE vote_tally_away RENAME TO vote_tally"))
                stored = connection.execute(text("SELECT count(*) FROM votes")).scalar_one()
            assert stored == 0  # the vote was rolled back with its batch
        finally:
            engine.dispose()
        # The client retries with the same vote_id: stored and counted once.
        r = await client.post(f"/paredoes/{pid}/votes", json=body)
        assert r.status_code == 202
        assert (await recount(client, pid))["recount_total"] == 1


class TestRaceWithClose:
    async def test_every_acknowledged_vote_is_in_the_frozen_result(
        self, client: httpx.AsyncClient
    ) -> None:
        pid, (a, b) = await open_paredao(client)

        async def cast(i: int) -> httpx.Response:
            await asyncio.sleep(random.random() * 0.05)
            return await client.post(
                f"/paredoes/{pid}/votes", json=vote(a if i % 3 else b, voter_id=f"v{i}")
            )

        async def close() -> httpx.Response:
            await asyncio.sleep(0.02)
            return await client.post(f"/paredoes/{pid}/close", headers=ADMIN)

        *answers, closed = await asyncio.gather(*(cast(i) for i in range(400)), close())
        assert closed.status_code == 200
        codes = [r.status_code for r in answers]
        assert set(codes) <= {202, 409}
        assert all(r.json()["error"] == "voting_not_open" for r in answers if r.status_code == 409)
        acknowledged = codes.count(202)
        results = (await client.get(f"/paredoes/{pid}/results")).json()
        assert results["status"] == "closed"
        assert results["total_votes"] == acknowledged
        assert (await recount(client, pid))["recount_total"] == acknowledged


class TestCountExactness:
    async def test_thousands_of_concurrent_votes_with_retries(
        self, client: httpx.AsyncClient
    ) -> None:
        pid, nominees = await open_paredao(client, 4)
        rng = random.Random(20261121)
        votes = []
        for i in range(3000):
            if i % 4 == 0:
                body = vote(rng.choice(nominees), "unico", f"u{i}", cpf=cpf(10_000 + i // 8))
            else:
                body = vote(rng.choice(nominees), "torcida", f"t{i % 500}")
            votes.append({**body, "vote_id": str(uuid.uuid4())})
        # A third of the clients send again (a retry after a lost answer, or a double click).
        sends = votes + [v for v in votes if rng.random() < 1 / 3]
        rng.shuffle(sends)
        gate = asyncio.Semaphore(256)

        async def send(body: dict[str, Any]) -> httpx.Response:
            async with gate:
                return await client.post(f"/paredoes/{pid}/votes", json=body)

        answers = await asyncio.gather(*(send(v) for v in sends))
        acknowledged = {r.json()["vote_id"] for r in answers if r.status_code == 202}
        refused = {r.status_code for r in answers if r.status_code != 202}
        # Duplicate CPFs (8 votes share each) are refused; the vote deadline leaves room for
        # a loaded machine, so every other vote is taken: each CPF's first, every torcida vote
        # (no voter sends more than the limit).
        assert refused <= {409}, {r.text for r in answers if r.status_code != 202}
        per_voter = Counter(v["voter_id"] for v in votes if v["mode"] == "torcida")
        assert max(per_voter.values()) <= 10
        cpfs = {v["cpf"] for v in votes if v["mode"] == "unico"}
        assert len(acknowledged) == len(cpfs) + sum(per_voter.values())
        stored = await recount(client, pid)
        assert stored["matches"] is True
        assert stored["recount_total"] == stored["tally_total"] == len(acknowledged)
        # The same vote answered twice gave the same answer both times.
        by_id: dict[str, set[str]] = {}
        for r in answers:
            if r.status_code == 202:
                by_id.setdefault(r.json()["vote_id"], set()).add(r.text)
        assert all(len(texts) == 1 for texts in by_id.values())


def _queued(app: FastAPI) -> int:
    """The votes waiting in the app's writer thread's queue."""
    sink = app_services(app).sink
    assert isinstance(sink, GroupCommitWriter)
    return sink._queue.qsize()


class TestShutdown:
    async def test_stop_flushes_what_was_taken_and_refuses_the_rest(
        self, settings: Settings, clock: Clock
    ) -> None:
        # Small batches: while the first waits for the lock another connection holds, the
        # next one is gathered and the rest wait in the queue (a batch of 1,000 would take
        # them all out of it); the lifespan ends (stop) as soon as the lock is released.
        settings = settings.model_copy(update={"vote_batch_max": 5})
        app: FastAPI = create_app(settings, clock=clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            async with app.router.lifespan_context(app):
                pid, (a, _) = await open_paredao(client)
                with write_blocked(settings.database_url):
                    tasks = [
                        asyncio.create_task(
                            client.post(f"/paredoes/{pid}/votes", json=vote(a, voter_id=f"v{i}"))
                        )
                        for i in range(300)
                    ]
                    for _ in range(500):
                        if _queued(app) >= 10:
                            break
                        await asyncio.sleep(0.001)
                    assert _queued(app) >= 10
            # The lifespan has ended: the writer stopped after storing what it had taken.
            answers = await asyncio.gather(*tasks)
            codes = [r.status_code for r in answers]
            assert set(codes) <= {202, 503}
            accepted = codes.count(202)
            assert accepted > 0
            async with app.router.lifespan_context(app):
                assert await total_votes(client, pid) == accepted
                await app_services(app).sink.stop()
                r = await client.post(f"/paredoes/{pid}/votes", json=vote(a, voter_id="late"))
                assert r.status_code == 503
                assert "shutting down" in r.json()["detail"]


def test_settings_fixture_is_isolated(settings: Settings) -> None:
    assert settings.admin_token == SecretStr(ADMIN_TOKEN)


CAST_AT = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)


class TestDeadlines:
    @pytest.mark.skipif(ON_POSTGRES, reason="the writer on the loop is SQLite's alone")
    async def test_each_vote_is_503_at_its_own_deadline_in_any_order(
        self, database_url: str
    ) -> None:
        """Deadlines given out of order (the writer process passes its clients') are each
        kept: no 503 before a vote's deadline, and one soon after it."""
        engine = make_engine(database_url)
        writer = GroupCommitWriter(engine, on_loop=True)
        await writer.start()
        try:
            with write_blocked(database_url):
                start = time.monotonic()
                offsets = (0.3, 0.1, 0.2, 0.4)
                futures = [
                    writer.enqueue(
                        Ballot(uuid.uuid4(), False, 1, 1, VoteMode.torcida, f"v{i}", None, None,
                               CAST_AT),
                        deadline=start + offset,
                    )
                    for i, offset in enumerate(offsets)
                ]  # fmt: skip
                answered_at: dict[int, float] = {}

                def note(i: int) -> Callable[[object], object]:
                    return lambda _: answered_at.setdefault(i, time.monotonic() - start)

                for i, future in enumerate(futures):
                    future.add_done_callback(note(i))
                await asyncio.wait_for(asyncio.gather(*futures), timeout=10)
            for i, offset in enumerate(offsets):
                assert isinstance(futures[i].result(), Unavailable)
                assert offset <= answered_at[i] < offset + 0.09, (offset, answered_at)
            assert sorted(answered_at, key=answered_at.__getitem__) == [1, 2, 0, 3]
        finally:
            await writer.stop()
            engine.dispose()
