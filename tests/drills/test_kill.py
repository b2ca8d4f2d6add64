"""`kill -9` of the whole server (supervisor and workers) in the middle of a burst of votes,
three times on one SQLite file: after each restart every vote that got a 202 is stored
exactly once, and the tally equals a recount of the raw votes."""

import asyncio
import random
from pathlib import Path

import httpx
import pytest

from tests.conftest import skip_on_postgres
from tests.support.fixtures import MakeServer
from tests.support.paredoes import make_paredao_at, nominee_ids
from tests.support.votes import VoteLoad, assert_stored_once

# Each round waits up to a minute for the restart and a minute for its votes: the test's
# limit is past the sum of its own waits, so only a real hang ends it.
pytestmark = [pytest.mark.drill, skip_on_postgres, pytest.mark.timeout(600)]

ROUNDS = 3
CONCURRENCY = 48
ACKED_BEFORE_KILL = 150  # more 202s in each round before the kill


async def test_every_acknowledged_vote_survives_kill_9(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server(tmp_path, {})
    await asyncio.to_thread(server.start)
    paredao = await asyncio.to_thread(make_paredao_at, server.url, 2)
    burst = VoteLoad(paredao["id"], nominee_ids(paredao))
    limits = httpx.Limits(max_connections=CONCURRENCY)

    for round_ in range(1, ROUNDS + 1):
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
            stop = asyncio.Event()
            load = asyncio.create_task(burst.run(http, CONCURRENCY, stop=stop))
            await burst.until_acked(len(burst.acked) + ACKED_BEFORE_KILL)
            await asyncio.to_thread(server.kill)  # while votes are in flight
            stop.set()
            await asyncio.wait_for(load, 30)
        await asyncio.to_thread(server.start)  # on the same file
        stored = await assert_stored_once(server.url, server.database_url, burst)
        print(
            f"round {round_}: {len(burst.sent)} sent, {len(burst.acked)} acknowledged, "
            f"{len(burst.unanswered)} without an answer, {len(stored)} stored; {burst.answers}"
        )
    assert set(burst.answers) <= {"202", "ConnectError", "ReadError", "RemoteProtocolError"}, (
        burst.answers,
        burst.samples,
    )

    # The client sends again, with the same vote_ids, what it got no answer for, and some
    # acknowledged votes: each is answered 202 and stored once, never twice.
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
        resent = burst.unanswered | set(random.sample(sorted(burst.acked), 50))
        answers_before = burst.answers.copy()
        await burst.again(http, resent)
    again = burst.answers - answers_before
    assert set(again) == {"202"}, (again, burst.samples)
    assert resent <= burst.acked
    stored = await assert_stored_once(server.url, server.database_url, burst)
    assert stored == burst.acked
    print(f"sent again: {len(resent)}, all 202; {len(stored)} votes stored once")
