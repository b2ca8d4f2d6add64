"""The vote writer process: one per SQLite database, owning its writes.

The API workers hand it their ballots over a Unix socket (`pipeline.writer.wire`) and await
each outcome; it stores them with the group-commit writer (`GroupCommitWriter`: the same
batches, rules, deadlines and 503s as in a worker) and answers each vote after the COMMIT
that holds it. The workers' event loops then do only HTTP and validation, and no writer
thread takes their interpreter lock; the votes of every worker share one batch and one fsync.

It is started by the first worker that finds no writer listening (`WriterClient`), in that
worker's process group: a Ctrl-C, or a signal to the server's group, reaches it with the
workers. It holds a lock file while it lives (a second writer on the same database exits at
once) and exits when its last worker has gone. On SIGTERM or SIGINT it takes no new workers
and serves the connected ones while they drain, until they have gone (at most `--grace-s`).
`kill -9` loses nothing acknowledged: a vote is answered only after its commit, and a worker
answers 503 for the votes it was waiting for when the connection broke (retrying with the
same vote_id is then safe).

    python -m pipeline.writer.process --database-url sqlite:///paredao.db --socket PATH
"""

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import logging
import logging.config
import os
import signal
import tempfile
from pathlib import Path
from typing import Any, cast

from db.engine import make_engine
from db.votes import Outcome
from model.ballot import Ballot
from observability import metrics
from observability.logs import log_config
from pipeline.writer import wire
from pipeline.writer.group_commit import GroupCommitWriter

log = logging.getLogger(__name__)
IDLE_EXIT_S = 10.0  # a writer no worker connected to within this exits


def socket_path(database: str) -> str:
    """The writer's socket for a SQLite file: beside it, or, when that path is too long for a
    Unix socket, in the temporary directory under a name derived from the file's path."""
    beside = f"{database}.writer.sock"
    if len(beside.encode()) < 100:
        return beside
    digest = hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:20]
    return os.path.join(tempfile.gettempdir(), f"paredao-writer-{digest}.sock")


class _Worker(asyncio.Protocol):
    """One API worker's connection: ballots in, outcomes out (one write per loop turn)."""

    def __init__(self, server: "WriterServer") -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.answers: list[tuple[Any, ...]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.server.joined(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        writer = self.server.writer
        for items in wire.frames(self.buffer):
            for item in items:
                seq, deadline, ballot = wire.ballot_of(item)
                writer.enqueue(ballot, deadline).add_done_callback(self._answerer(seq, ballot))

    def _answerer(self, seq: int, ballot: Ballot) -> Any:
        def answer(future: "asyncio.Future[Outcome]") -> None:
            if self.transport is None:  # the worker went away: a stored vote stays stored
                return
            if not self.answers:
                asyncio.get_running_loop().call_soon(self._flush)
            self.answers.append(wire.outcome_item(seq, future.result()))

        return answer

    def _flush(self) -> None:
        if self.transport is not None and self.answers:
            self.transport.write(wire.frame(self.answers))
        self.answers = []

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server.left(self)


class WriterServer:
    def __init__(
        self, database_url: str, path: str, grace_s: float, busy_timeout_s: float, **writer: Any
    ) -> None:
        self.engine = make_engine(database_url, busy_timeout_s=busy_timeout_s)
        self.writer = GroupCommitWriter(self.engine, **writer)
        self.path = path
        self.grace_s = grace_s
        self.workers: set[_Worker] = set()
        self.seen_a_worker = False
        self.emptied = asyncio.Event()  # set while no worker is connected

    def joined(self, worker: _Worker) -> None:
        self.workers.add(worker)
        self.seen_a_worker = True
        self.emptied.clear()

    def left(self, worker: _Worker) -> None:
        self.workers.discard(worker)
        if not self.workers:
            self.emptied.set()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        await self.writer.start()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # left by a writer that was killed
        old_mask = os.umask(0o077)  # the socket is for this user only
        try:
            server = await loop.create_unix_server(lambda: _Worker(self), self.path)
        finally:
            os.umask(old_mask)
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        log.info("vote writer serving %s", self.path)
        started = loop.time()
        try:
            # Until the last worker has gone (or none came at all), or a signal.
            while not stopping.is_set():
                await asyncio.sleep(0.2)
                if not self.workers and (self.seen_a_worker or loop.time() - started > IDLE_EXIT_S):
                    break
            server.close()  # no new workers from here on
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            if self.workers:  # signalled: the connected workers drain first
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.emptied.wait(), self.grace_s)
        finally:
            await self.writer.stop()  # every vote taken is stored and answered
            await asyncio.sleep(0)  # the answers' callbacks run
            for worker in list(self.workers):
                worker._flush()
            self.engine.dispose()
        log.info("vote writer stopped")


def hold_lock(path: str) -> int | None:
    """The lock that makes this the only writer of its database, or None if another holds it."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def writer_lock_held(path: str) -> bool:
    """Whether a writer process of this socket is alive (starting or serving)."""
    fd = hold_lock(path)
    if fd is None:
        return True
    os.close(fd)
    return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The vote writer process of one SQLite database")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--max-batch", type=int, default=1000)
    parser.add_argument("--max-wait-s", type=float, default=0.001)
    parser.add_argument("--queue-size", type=int, default=10_000)
    parser.add_argument("--deadline-s", type=float, default=1.5)
    parser.add_argument("--grace-s", type=float, default=30.0)
    parser.add_argument("--busy-timeout-s", type=float, default=5.0)
    parser.add_argument(
        "--unico-per-device",
        type=int,
        default=None,
        help="votos únicos a voter_id may cast per paredão (anonymous mode); absent: no limit",
    )
    args = parser.parse_args(argv)
    logging.config.dictConfig(log_config())  # the API's JSON lines
    lock = hold_lock(args.socket)
    if lock is None:
        log.info("another vote writer serves %s", args.socket)
        return
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    server = WriterServer(
        args.database_url,
        args.socket,
        args.grace_s,
        args.busy_timeout_s,
        max_batch=args.max_batch,
        max_wait_s=args.max_wait_s,
        queue_size=args.queue_size,
        deadline_s=args.deadline_s,
        unico_per_device=args.unico_per_device,
    )
    runner(server.serve())
    metrics.process_exiting()  # its live gauges (the queue depth) leave with it
    os.close(lock)


if __name__ == "__main__":
    main()
