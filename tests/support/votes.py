"""A load of votos da torcida that remembers every answer, and the checks a drill ends with:
every acknowledged vote stored, nothing stored that was never sent, and the tally equal to a
recount of the raw votes (a vote counted twice shows there, where a key cannot hide it)."""

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Collection
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from db.engine import make_engine
from model.vote import Vote
from tests.support.api import ADMIN


class VoteLoad:
    """Votos da torcida, each from a voter of its own with a vote_id fixed by the client,
    remembering every answer: which got a 202 (acknowledged), which a 503 (shed), which no
    answer at all (the connection failed, or the in-process app raised: their fate is
    unknown), and how long each took."""

    def __init__(self, paredao_id: int, nominee_ids: list[int]) -> None:
        self.paredao_id = paredao_id
        self.nominee_ids = nominee_ids
        self.sent: set[uuid.UUID] = set()
        self.acked: set[uuid.UUID] = set()
        self.shed: set[uuid.UUID] = set()
        self.unanswered: set[uuid.UUID] = set()
        self.answers: Counter[str] = Counter()  # status code, or the exception raised
        self.samples: dict[str, str] = {}  # one answer of each kind, to show
        self.faults: list[str] = []  # 503s without Retry-After or the error shape
        self.latencies_s: list[float] = []  # of the answered votes
        self.slowest_s = 0.0  # of every vote, answered or not

    def body(self, vote_id: uuid.UUID) -> dict[str, Any]:
        return {
            "nominee_id": self.nominee_ids[vote_id.int % len(self.nominee_ids)],
            "mode": "torcida",
            "voter_id": f"drill-{vote_id.hex}",
            "vote_id": str(vote_id),
        }

    async def cast(self, client: httpx.AsyncClient, vote_id: uuid.UUID) -> int | None:
        """Send one vote (or send it again); its status code, or None without an answer."""
        self.sent.add(vote_id)
        started = time.monotonic()
        try:
            r = await client.post(f"/paredoes/{self.paredao_id}/votes", json=self.body(vote_id))
        except Exception as exc:
            self.slowest_s = max(self.slowest_s, time.monotonic() - started)
            self._unanswered(vote_id, exc)
            return None
        self._answered(vote_id, started, r.status_code, r.headers.get("retry-after"), r.text)
        return r.status_code

    def _unanswered(self, vote_id: uuid.UUID, exc: BaseException) -> None:
        self.answers[type(exc).__name__] += 1
        self.samples.setdefault(type(exc).__name__, repr(exc)[:300])
        if vote_id not in self.acked:
            self.unanswered.add(vote_id)

    def _answered(
        self, vote_id: uuid.UUID, started: float, status: int, retry_after: str | None, text: str
    ) -> None:
        took = time.monotonic() - started
        self.latencies_s.append(took)
        self.slowest_s = max(self.slowest_s, took)
        self.answers[str(status)] += 1
        self.samples.setdefault(str(status), text[:300])
        self.unanswered.discard(vote_id)
        if status == 202:
            self.acked.add(vote_id)
            self.shed.discard(vote_id)
        elif status == 503:
            self.shed.add(vote_id)
            if retry_after is None:
                self.faults.append(f"503 without Retry-After: {text[:200]}")
            try:
                shape = set(json.loads(text))
            except ValueError:
                shape = set()
            if shape != {"error", "detail"}:
                self.faults.append(f"503 not in the error shape: {text[:200]}")

    async def run(
        self,
        client: httpx.AsyncClient,
        concurrency: int = 16,
        *,
        count: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """`concurrency` votes in flight until `count` were sent or `stop` is set."""
        left = count

        async def caster() -> None:
            nonlocal left
            while (stop is None or not stop.is_set()) and (left is None or left > 0):
                if left is not None:
                    left -= 1
                await self.cast(client, uuid.uuid4())

        await asyncio.gather(*(caster() for _ in range(concurrency)))

    async def flood(self, url: str, connections: int, stop: asyncio.Event) -> None:
        """`connections` connections, each voting without pause until `stop`.

        Plain HTTP/1.1 on asyncio streams: httpx costs its client ~5 ms of CPU a request at
        a thousand connections (a pool per connection, a failed `import sniffio` per lock),
        and a client that slow would measure itself, not the server."""
        target = httpx.URL(url)
        host, port = target.host, target.port or 80
        path = f"/paredoes/{self.paredao_id}/votes"

        async def voter() -> None:
            connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
            while not stop.is_set():
                vote_id = uuid.uuid4()
                payload = json.dumps(self.body(vote_id)).encode()
                request = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                ).encode() + payload
                self.sent.add(vote_id)
                started = time.monotonic()
                try:
                    async with asyncio.timeout(30):
                        if connection is None:
                            connection = await asyncio.open_connection(host, port)
                        reader, writer = connection
                        writer.write(request)
                        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                        status_line, *lines = head.rstrip("\r\n").split("\r\n")
                        headers = dict(line.lower().split(": ", 1) for line in lines)
                        body = await reader.readexactly(int(headers.get("content-length", 0)))
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    self._unanswered(vote_id, exc)
                    if connection is not None:
                        connection[1].close()
                    connection = None
                    continue
                status = int(status_line.split()[1])
                self._answered(vote_id, started, status, headers.get("retry-after"), body.decode())
                if headers.get("connection") == "close":
                    writer.close()
                    connection = None
            if connection is not None:
                connection[1].close()

        await asyncio.gather(*(voter() for _ in range(connections)))

    async def until_acked(self, count: int, timeout_s: float = 60) -> None:
        """Wait until `count` votes in all have been acknowledged."""
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} votes not acknowledged in time: {self.answers}")
            await asyncio.sleep(0.01)

    async def again(self, client: httpx.AsyncClient, vote_ids: set[uuid.UUID]) -> None:
        """Send these votes again with their own vote_ids, as a client retries."""
        await asyncio.gather(*(self.cast(client, v) for v in vote_ids))

    def p99_s(self) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


class SteadyLoad:
    """A `VoteLoad` running in the background of the test's event loop."""

    def __init__(self, load: VoteLoad, client: httpx.AsyncClient, concurrency: int = 16) -> None:
        self.load = load
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(load.run(client, concurrency, stop=self._stop))

    async def finish(self) -> VoteLoad:
        self._stop.set()
        await asyncio.wait_for(self._task, 60)
        return self.load

    async def cancel(self) -> None:
        """Teardown: stop it whatever happened."""
        self._stop.set()
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def stored_vote_ids(database_url: str, paredao_id: int) -> set[uuid.UUID]:
    """The vote_ids of the paredão's stored votes, read from the database itself."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            return set(
                connection.execute(
                    select(col(Vote.vote_id)).where(col(Vote.paredao_id) == paredao_id)
                ).scalars()
            )
    finally:
        engine.dispose()


def assert_acknowledged_stored(load: VoteLoad, stored: Collection[uuid.UUID]) -> None:
    """Every acknowledged vote is stored, and nothing that was never sent. (That none is
    counted twice is the recount's to say: see `assert_tally_matches_recount`.)"""
    assert load.acked, f"no vote was acknowledged: {load.answers} {load.samples}"
    missing = load.acked - set(stored)
    assert not missing, f"{len(missing)} acknowledged votes were lost, e.g. {sorted(missing)[:3]}"
    unknown = set(stored) - load.sent
    assert not unknown, f"{len(unknown)} votes stored that were never sent"


async def assert_tally_matches_recount(
    api: httpx.AsyncClient | str, paredao_id: int, stored: int
) -> None:
    """The tally the results read equals a recount of the raw votes, and both equal the
    number of votes stored: a vote counted twice, or not at all, shows here. `api` is a
    client of the app, or a live server's URL."""
    if isinstance(api, str):
        async with httpx.AsyncClient(base_url=api, timeout=60) as client:
            await assert_tally_matches_recount(client, paredao_id, stored)
        return
    r = await api.post(f"/paredoes/{paredao_id}/recount", headers=ADMIN, timeout=60)
    assert r.status_code == 200, r.text
    recount = r.json()
    assert recount["matches"], recount["differences"][:5]
    assert recount["tally_total"] == recount["recount_total"] == stored, recount


async def assert_stored_once(
    api: httpx.AsyncClient | str, database_url: str, load: VoteLoad
) -> set[uuid.UUID]:
    """The end of every drill: every acknowledged vote stored, nothing never sent stored,
    and tally = recount = the votes stored. The stored vote_ids."""
    stored = await asyncio.to_thread(stored_vote_ids, database_url, load.paredao_id)
    assert_acknowledged_stored(load, stored)
    await assert_tally_matches_recount(api, load.paredao_id, len(stored))
    return stored
