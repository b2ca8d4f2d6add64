"""The direct path's `VoteSink` in an API worker when votes go through the vote writer process.

Each ballot is sent, in a compact encoding (`pipeline.writer.wire`), to the one writer
process of the database (`pipeline.writer.process`), together with its deadline; the
request awaits the writer's answer, which comes after the COMMIT that holds the vote. The
ballots of one turn of the event loop go out in one write, and the answers come back the
same way. The first worker that finds no writer listening starts one.

If the connection breaks (the writer was killed), the votes waiting for an answer are
answered 503: such a vote may have been stored, and sending it again with the same vote_id
is answered as a replay. The next vote starts a new writer.
"""

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

from model.ballot import Accepted, Ballot
from model.errors import DomainError, Unavailable
from pipeline.writer import wire
from pipeline.writer.process import writer_lock_held

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]  # the project: pipeline/writer/client.py
CONNECT_TIMEOUT_S = 15.0  # a writer starting from cold imports its modules first
RESPAWN_EVERY_S = 1.0
ANSWER_MARGIN_S = 10.0  # past the vote's deadline, a writer that has not answered is stuck


def writer_gone() -> Unavailable:
    return Unavailable(
        "the vote writer stopped before answering: the vote may be stored; "
        "retry with the same vote_id",
        retry_after_s=1,
    )


def unreachable() -> Unavailable:
    return Unavailable("the vote writer could not be reached: try again", retry_after_s=1)


def _retrieve(attempt: "asyncio.Future[_Connection]") -> None:
    if not attempt.cancelled():
        attempt.exception()  # its callers got it


class _Connection(asyncio.Protocol):
    def __init__(self, client: "WriterClient") -> None:
        self.client = client
        self.buffer = bytearray()
        self.outbox: list[tuple[Any, ...]] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def send(self, item: tuple[Any, ...]) -> None:
        if not self.outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self.outbox.append(item)

    def _flush(self) -> None:
        if self.transport is not None and self.outbox:
            self.transport.write(wire.frame(self.outbox))
        self.outbox = []

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        pending = self.client.pending
        for items in wire.frames(self.buffer):
            for item in items:
                waiting = pending.pop(item[0], None)
                if waiting is not None and not waiting[1].done():
                    waiting[1].set_result(wire.outcome_of(item, waiting[0]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.client.lost(self)


class WriterClient:
    """Hands ballots to the database's vote writer process (see the module doc)."""

    def __init__(
        self, database_url: str, socket: str, *, deadline_s: float, writer_args: list[str]
    ):
        self._socket = socket
        self._deadline_s = deadline_s
        self._command = [
            sys.executable, "-m", "pipeline.writer.process",
            "--database-url", database_url, "--socket", socket,
            "--deadline-s", str(deadline_s), *writer_args,
        ]  # fmt: skip
        # seq → (ballot, its future, its deadline), in the order sent
        self.pending: dict[int, tuple[Ballot, asyncio.Future[Accepted | DomainError], float]] = {}
        self._seq = 0
        self._connection: _Connection | None = None
        self._opening: asyncio.Future[_Connection] | None = None
        self._spawned: list[subprocess.Popen[bytes]] = []
        self._last_spawn = -RESPAWN_EVERY_S
        self._accepting = False
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._accepting = True
        try:
            await self._connect(CONNECT_TIMEOUT_S)
        except Unavailable:  # votes answer 503 and try again; the rest of the API serves
            log.error("the vote writer for %s could not be started", self._socket)
        self._sweeper = asyncio.create_task(self._sweep(), name="vote-writer-sweeper")

    async def stop(self) -> None:
        """Take no more votes, wait for the answers to those sent, then hang up."""
        self._accepting = False
        waiting = [future for _, future, _ in self.pending.values()]
        if waiting:
            await asyncio.wait(waiting, timeout=self._deadline_s + ANSWER_MARGIN_S)
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._connection is not None and self._connection.transport is not None:
            self._connection.transport.close()
        self._reap()

    async def submit(self, ballot: Ballot) -> Accepted:
        if not self._accepting:
            raise Unavailable("the server is shutting down: try again", retry_after_s=1)
        connection = self._connection
        if connection is None:
            connection = await self._connect(self._deadline_s)
        self._seq += 1
        seq, deadline = self._seq, time.monotonic() + self._deadline_s
        future: asyncio.Future[Accepted | DomainError] = asyncio.get_running_loop().create_future()
        self.pending[seq] = (ballot, future, deadline)
        connection.send(wire.ballot_item(seq, deadline, ballot))
        outcome = await future
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    def lost(self, connection: _Connection) -> None:
        """The writer hung up: every vote waiting for it is answered 503."""
        if self._connection is connection:
            self._connection = None
        if self._accepting:
            log.warning("the vote writer went away with %d votes unanswered", len(self.pending))
        for _, future, _ in self.pending.values():
            if not future.done():
                future.set_result(writer_gone())
        self.pending.clear()

    async def _connect(self, timeout_s: float) -> _Connection:
        """The connection to the writer, opened (and the writer started) if need be; every
        caller waits for the same attempt, each at most `timeout_s`."""
        if self._connection is not None:
            return self._connection
        if self._opening is None or self._opening.done():
            self._opening = asyncio.ensure_future(self._open(CONNECT_TIMEOUT_S))
            self._opening.add_done_callback(_retrieve)
        try:
            return await asyncio.wait_for(asyncio.shield(self._opening), timeout_s)
        except TimeoutError:
            raise unreachable() from None

    async def _open(self, timeout_s: float) -> _Connection:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout_s
        while True:
            try:
                _, connection = await loop.create_unix_connection(
                    lambda: _Connection(self), self._socket
                )
            except (FileNotFoundError, ConnectionRefusedError):
                if loop.time() > give_up:
                    raise unreachable() from None
                self._spawn(loop.time())
                await asyncio.sleep(0.05)
                continue
            self._connection = connection
            return connection

    def _spawn(self, now: float) -> None:
        """Start a writer (at most once a second, and never while the one this worker started
        is still alive: on a busy machine a writer takes seconds to load its modules before
        it takes the lock, and more writers loading then would only slow it down). If another
        worker's is starting too, one of them takes the database's writer lock and the
        other exits at once."""
        if now - self._last_spawn < RESPAWN_EVERY_S:
            return
        self._last_spawn = now
        self._reap()
        if self._spawned:
            return  # ours is starting: it binds its socket once its modules are loaded
        with contextlib.suppress(OSError):  # e.g. no such directory: the writer will say so
            if writer_lock_held(self._socket):
                return  # a writer is starting (it binds its socket once its modules are loaded)
        log.info("starting the vote writer for %s", self._socket)
        self._spawned.append(
            subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                self._command, stdin=subprocess.DEVNULL, env=self._environment()
            )
        )

    def _environment(self) -> dict[str, str]:
        """The worker's environment, with the project importable: the writer runs in the
        worker's directory, where a relative database path means the same file."""
        paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}

    def _reap(self) -> None:
        self._spawned = [p for p in self._spawned if p.poll() is None]

    async def _sweep(self) -> None:
        """Answer 503 for votes a stuck writer has not answered long past their deadline."""
        while True:
            await asyncio.sleep(0.5)
            self._reap()
            late = time.monotonic() - ANSWER_MARGIN_S
            for seq, (_, future, deadline) in list(self.pending.items()):
                if deadline > late:
                    break  # sent in order: the rest are younger
                del self.pending[seq]
                if not future.done():
                    future.set_result(writer_gone())
