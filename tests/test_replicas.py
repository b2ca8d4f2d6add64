"""Real server processes: two replicas on one database (SQLite file or PostgreSQL), and a
SIGTERM during a burst."""

import asyncio
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from db.migrate import upgrade_to_head
from tests.conftest import ADMIN, ON_POSTGRES, cpf, empty_postgres
from tests.support.fixtures import MakeServer
from tests.support.paredoes import make_paredao_at, nominee_ids

# tests/browser/conftest.py takes its free port from here.
from tests.support.ports import free_port as free_port
from tests.support.server import LiveServer
from tests.support.votes import (
    VoteLoad,
    assert_acknowledged_stored,
    assert_tally_matches_recount,
    stored_vote_ids,
)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database the servers share: a fresh SQLite file, or the emptied PostgreSQL one."""
    if ON_POSTGRES:
        url: str = request.getfixturevalue("database_url")
        empty_postgres(url)
        return url
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    upgrade_to_head(url)
    return url


def started(server: LiveServer) -> LiveServer:
    server.start()
    return server


@pytest.fixture
def replicas(database: str, make_server: MakeServer) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers of one worker each on one database (each is killed after the test)."""
    yield started(make_server(database, workers=1)), started(make_server(database, workers=1))


def test_rate_limit_and_cpf_are_exact_across_replicas(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    a, b = replicas
    paredao = make_paredao_at(a.url, 2)
    pid, nominee = paredao["id"], nominee_ids(paredao)[0]

    def cast(i: int, body: dict[str, object]) -> int:
        server = (a, b)[i % 2]  # alternate: each replica takes half of the votes
        return httpx.post(f"{server.url}/paredoes/{pid}/votes", json=body, timeout=30).status_code

    torcida = {"nominee_id": nominee, "mode": "torcida", "voter_id": "same-voter"}
    unico = {"nominee_id": nominee, "mode": "unico", "voter_id": "x", "cpf": cpf(77)}
    with ThreadPoolExecutor(16) as pool:
        torcida_codes = list(pool.map(cast, range(30), [torcida] * 30))
        unico_codes = list(pool.map(cast, range(20), [unico] * 20))
    assert sorted(torcida_codes) == [202] * 10 + [429] * 20
    assert sorted(unico_codes) == [202] + [409] * 19
    stats = httpx.get(f"{b.url}/paredoes/{pid}/stats", headers=ADMIN).json()
    assert stats["total_votes"] == 11


async def test_sigterm_during_a_burst_keeps_every_acknowledged_vote(
    database: str, make_server: MakeServer
) -> None:
    server, reader = make_server(database, workers=1), make_server(database, workers=1)
    await asyncio.to_thread(server.start)
    await asyncio.to_thread(reader.start)
    paredao = await asyncio.to_thread(make_paredao_at, server.url, 2)
    load = VoteLoad(paredao["id"], nominee_ids(paredao)[:1])
    stop = asyncio.Event()
    async with httpx.AsyncClient(
        base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=32)
    ) as http:
        burst = asyncio.create_task(load.run(http, 32, stop=stop))
        await load.until_acked(100)  # votes are flowing: stop it in the middle of the burst
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM to exit as the signal asks.
        code = await asyncio.to_thread(server.process.wait, 60)
        stop.set()
        await asyncio.wait_for(burst, 60)
    assert code in (0, -signal.SIGTERM)
    answered = {a for a in load.answers if a.isdigit()}
    assert answered <= {"202", "503"}, (load.answers, load.samples)
    assert len(load.acked) < len(load.sent), "the server stopped before the burst ended"
    # Every acknowledged vote is stored; a vote stored without its 202 is one the shutdown
    # cut off on the wire (sent, no answer), never one that was refused or never sent.
    stored = await asyncio.to_thread(stored_vote_ids, database, load.paredao_id)
    assert_acknowledged_stored(load, stored)
    assert stored - load.acked <= load.unanswered, "a vote answered 503 was stored"
    await assert_tally_matches_recount(reader.url, load.paredao_id, len(stored))
