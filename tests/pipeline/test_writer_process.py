"""The vote writer process (PAREDAO_VOTE_WRITER=process, the default on a SQLite file): the
same answers as the writer thread, one writer for every worker of a database, and no
acknowledged vote lost when it is killed mid-burst."""

import asyncio
import os
import signal
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url

from config import Settings
from model.errors import Unavailable
from pipeline.writer.client import WriterClient
from pipeline.writer.process import socket_path
from tests.conftest import ADMIN, Clock, cpf
from tests.support.app import serving
from tests.support.votes import stored_vote_ids

pytestmark = pytest.mark.skipif(
    os.environ.get("PAREDAO_TEST_DATABASE_URL") is not None,
    reason="the writer process serves SQLite files; PostgreSQL keeps a writer per worker",
)


@pytest.fixture
def process_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"vote_writer": "process"})


def database_file(settings: Settings) -> str:
    database = make_url(settings.database_url).database
    assert database
    return database


def writer_pids(settings: Settings) -> list[int]:
    """The live writer processes serving this database (found by their command line)."""
    wanted = socket_path(database_file(settings))
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"pipeline.writer.process" in command and wanted.encode() in command and state != "Z":
            pids.append(int(entry.name))
    return pids


async def wait_for(condition: Any, timeout_s: float = 15.0) -> None:
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, "timed out"
        await asyncio.sleep(0.05)


def vote(nominee_id: int, voter: str, **extra: Any) -> dict[str, Any]:
    return {"nominee_id": nominee_id, "mode": "torcida", "voter_id": voter, **extra}


async def test_the_writer_process_answers_as_the_writer_thread(
    process_settings: Settings, clock: Clock, open_paredao: Any, client: httpx.AsyncClient
) -> None:
    paredao = await open_paredao(2)  # made through the writer-thread app of `client`
    pid, nominee = paredao["id"], paredao["nominees"][0]["candidate_id"]
    async with serving(process_settings, clock) as c:
        await wait_for(lambda: len(writer_pids(process_settings)) == 1)
        vote_id = str(uuid.uuid4())
        first = await c.post(f"/paredoes/{pid}/votes", json=vote(nominee, "ana", vote_id=vote_id))
        assert first.status_code == 202, first.text
        assert first.json()["status"] == "counted"
        again = await c.post(f"/paredoes/{pid}/votes", json=vote(nominee, "ana", vote_id=vote_id))
        assert (again.status_code, again.json()) == (202, first.json())  # a replay, counted once
        reused = await c.post(f"/paredoes/{pid}/votes", json=vote(nominee, "bia", vote_id=vote_id))
        assert (reused.status_code, reused.json()["error"]) == (409, "vote_id_reused")

        unico = {"nominee_id": nominee, "mode": "unico", "voter_id": "x", "cpf": cpf(7)}
        assert (await c.post(f"/paredoes/{pid}/votes", json=unico)).status_code == 202
        twice = await c.post(f"/paredoes/{pid}/votes", json={**unico, "voter_id": "y"})
        assert (twice.status_code, twice.json()["error"]) == (409, "cpf_already_voted")
        # The device's limit travels to the writer process, and its refusal back.
        again_x = await c.post(f"/paredoes/{pid}/votes", json={**unico, "cpf": cpf(8)})
        assert (again_x.status_code, again_x.json()["error"]) == (409, "device_already_voted")

        answers = [
            await c.post(f"/paredoes/{pid}/votes", json=vote(nominee, "carla")) for _ in range(11)
        ]
        assert [a.status_code for a in answers] == [202] * 10 + [429]
        assert answers[-1].json()["error"] == "rate_limited"
        assert int(answers[-1].headers["Retry-After"]) > 0

        closed = await c.post(f"/paredoes/{pid}/close", headers=ADMIN)
        assert closed.status_code == 200, closed.text
        late = await c.post(f"/paredoes/{pid}/votes", json=vote(nominee, "dora"))
        assert (late.status_code, late.json()["error"]) == (409, "voting_not_open")
        recount = (await c.post(f"/paredoes/{pid}/recount", headers=ADMIN)).json()
        assert recount["matches"] and recount["recount_total"] == 12  # 1 + 1 único + 10
    await wait_for(lambda: not writer_pids(process_settings))  # it left with its last worker


async def test_workers_of_one_database_share_one_writer(
    process_settings: Settings, clock: Clock, open_paredao: Any, client: httpx.AsyncClient
) -> None:
    paredao = await open_paredao(2)
    pid, nominee = paredao["id"], paredao["nominees"][0]["candidate_id"]
    async with AsyncExitStack() as stack:
        workers = [await stack.enter_async_context(serving(process_settings, clock)) for _ in "ab"]
        answers = await asyncio.gather(
            *(
                w.post(f"/paredoes/{pid}/votes", json=vote(nominee, f"v{i}-{n}"))
                for i, w in enumerate(workers)
                for n in range(50)
            )
        )
        assert {a.status_code for a in answers} == {202}
        # Both workers may start a writer at once: the one that finds the lock taken exits.
        await wait_for(lambda: len(writer_pids(process_settings)) == 1)
        assert len(stored_vote_ids(process_settings.database_url, pid)) == 100
    await wait_for(lambda: not writer_pids(process_settings))


async def test_killing_the_writer_mid_burst_loses_no_acknowledged_vote(
    process_settings: Settings, clock: Clock, open_paredao: Any, client: httpx.AsyncClient
) -> None:
    """`kill -9` of the writer while votes stream in: every 202 is stored exactly once, the
    votes it was holding are answered 503, and the next votes start a new writer."""
    paredao = await open_paredao(2)
    pid, nominee = paredao["id"], paredao["nominees"][0]["candidate_id"]
    acknowledged: set[uuid.UUID] = set()
    statuses: list[int] = []
    in_flight: set[uuid.UUID] = set()  # sent, not answered yet
    in_flight_at_kill: set[uuid.UUID] = set()
    async with serving(process_settings, clock) as c:
        await wait_for(lambda: len(writer_pids(process_settings)) == 1)
        (first_writer,) = writer_pids(process_settings)
        killed = asyncio.Event()

        async def voter(n: int) -> None:
            for i in range(40):
                vote_id = uuid.uuid4()
                in_flight.add(vote_id)
                r = await c.post(
                    f"/paredoes/{pid}/votes", json=vote(nominee, f"k{n}-{i}", vote_id=str(vote_id))
                )
                in_flight.discard(vote_id)
                statuses.append(r.status_code)
                if r.status_code == 202:
                    acknowledged.add(vote_id)
                else:
                    assert r.status_code == 503, r.text
                    assert r.json()["error"] == "unavailable" and "Retry-After" in r.headers
                # Killed once 300 are in, while other voters' votes wait for their answer.
                if len(acknowledged) >= 300 and len(in_flight) >= 4 and not killed.is_set():
                    in_flight_at_kill.update(in_flight)
                    os.kill(first_writer, signal.SIGKILL)
                    killed.set()

        await asyncio.gather(*(voter(n) for n in range(16)))
        assert killed.is_set()
        after = writer_pids(process_settings)
        assert after and first_writer not in after  # a new writer took over
        recount = (await c.post(f"/paredoes/{pid}/recount", headers=ADMIN)).json()
    assert in_flight_at_kill, "no vote was waiting for its answer when the writer died"
    stored = stored_vote_ids(process_settings.database_url, pid)
    assert acknowledged <= stored  # every 202 stored
    assert len(acknowledged) > 300  # votes went on after the kill
    # None counted twice: the tally equals a recount of the raw votes, and both the votes stored.
    assert recount["matches"], recount["differences"][:5]
    assert recount["tally_total"] == recount["recount_total"] == len(stored)
    print(
        f"{statuses.count(202)} × 202, {statuses.count(503)} × 503, {len(stored)} stored; "
        f"{len(in_flight_at_kill)} in flight at the kill, "
        f"{len(in_flight_at_kill & acknowledged)} of them acknowledged"
    )


async def test_a_relative_database_path_means_the_workers_file(
    process_settings: Settings,
    clock: Clock,
    open_paredao: Any,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer runs in the worker's directory: `sqlite:///./paredao.db` is one file."""
    paredao = await open_paredao(2)
    pid, nominee = paredao["id"], paredao["nominees"][0]["candidate_id"]
    database = Path(database_file(process_settings))
    monkeypatch.chdir(database.parent)
    relative = process_settings.model_copy(update={"database_url": f"sqlite:///./{database.name}"})
    async with serving(relative, clock) as c:
        vote_id = str(uuid.uuid4())
        r = await c.post(f"/paredoes/{pid}/votes", json=vote(nominee, "rel", vote_id=vote_id))
        assert r.status_code == 202, r.text
    assert stored_vote_ids(process_settings.database_url, pid) == {uuid.UUID(vote_id)}


async def test_a_worker_starts_one_writer_at_a_time_however_slow_it_is_to_start(
    process_settings: Settings, tmp_path: Path
) -> None:
    """A writer that takes seconds to come up (a busy machine: its imports run first) is
    waited for, not joined by a new writer every second, which would slow it further."""
    client = WriterClient(
        process_settings.database_url, str(tmp_path / "w.sock"), deadline_s=1.5, writer_args=[]
    )
    started = tmp_path / "started"
    # A writer that never binds its socket: each start leaves a line in `started`.
    client._command = [  # the one thing faked here
        sys.executable, "-c",
        f"import time; open({str(started)!r}, 'a').write('x\\n'); time.sleep(4)",
    ]  # fmt: skip
    with pytest.raises(Unavailable):
        await client._connect(3.0)
    assert started.read_text().count("x") == 1  # three seconds, one writer
    for process in client._spawned:
        process.kill()
        process.wait()
