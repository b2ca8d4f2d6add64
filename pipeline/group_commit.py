"""The group-commit writer: concurrent votes are stored together, one transaction per batch.

Each request puts its ballot on a bounded queue and awaits its own outcome. One task takes
whatever is queued (up to `max_batch`, waiting at most `max_wait_s` for more), stores the
batch in one transaction in a worker thread, and answers each request only after COMMIT:
an acknowledged vote is durable. While a batch commits, the next one gathers.
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from db.engine import WriterTurn, writer_engine
from db.votes import Outcome, write_batch
from model.ballot import Accepted, Ballot
from model.errors import DomainError, Unavailable
from observability import metrics

log = logging.getLogger(__name__)

Pending = tuple[Ballot, asyncio.Future[Outcome]]
_STOP = object()
TRANSIENT_RETRIES = 3


class GroupCommitWriter:
    """The direct path's `VoteSink`: a vote is answered once the batch holding it committed."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 1000,
        max_wait_s: float = 0.001,
        queue_size: int = 10_000,
        in_flight: int | None = None,
    ) -> None:
        self._engine = writer_engine(engine)
        # SQLite writes one transaction at a time: one batch at a time. PostgreSQL commits
        # concurrent transactions together: while one batch waits on its round trips and its
        # commit, others are written (their locks are taken in one order, the tally sharded).
        if in_flight is None:
            in_flight = 1 if engine.dialect.name == "sqlite" else 4
        self._slots = asyncio.Semaphore(in_flight)
        self._committing: set[asyncio.Task[None]] = set()
        self._turn = WriterTurn(engine)
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._queue: asyncio.Queue[Pending | object] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        # Threads of its own: reads that run in the default executor never delay a commit.
        self._thread = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="vote-writer")

    async def start(self) -> None:
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="group-commit-writer")

    async def stop(self) -> None:
        """Stop taking votes, store every vote already taken, then return."""
        self._accepting = False
        if self._task is None:
            return
        await self._queue.put(_STOP)
        await self._task
        self._task = None
        self._thread.shutdown()
        self._turn.close()

    async def submit(self, ballot: Ballot) -> Accepted:
        """Store `ballot`; returns once it is committed, or raises the refusal."""
        if not self._accepting:
            raise Unavailable("the server is shutting down: try again", retry_after_s=1)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((ballot, future))
        except asyncio.QueueFull:
            raise Unavailable("too many votes at once: try again in a second", 1) from None
        outcome = await future
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[Pending] = []
            item = await self._queue.get()
            if item is _STOP:
                break
            batch.append(item)  # type: ignore[arg-type]
            stopping = self._drain_into(batch)
            if not stopping and len(batch) < self._max_batch and self._max_wait_s > 0:
                await asyncio.sleep(self._max_wait_s)
                stopping = self._drain_into(batch)
            await self._slots.acquire()  # the next batch gathers while this one waits its turn
            task = asyncio.create_task(self._commit(batch))
            self._committing.add(task)
            task.add_done_callback(self._committed)
        # Nothing follows the stop marker: `submit` refuses votes before it is queued.
        await asyncio.gather(*self._committing)

    def _committed(self, task: "asyncio.Task[None]") -> None:
        self._committing.discard(task)
        self._slots.release()

    def _drain_into(self, batch: list[Pending]) -> bool:
        """Move queued ballots into `batch`, up to a full batch; True if the stop marker was met."""
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return False
            if item is _STOP:
                return True
            batch.append(item)  # type: ignore[arg-type]
        return False

    async def _commit(self, batch: list[Pending]) -> None:
        ballots = [ballot for ballot, _ in batch]
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            outcomes = await loop.run_in_executor(self._thread, self._write, ballots)
        except Exception:
            log.exception("could not store a batch of %d votes", len(batch))
            failure = Unavailable("the vote could not be stored: retry with the same vote_id")
            outcomes = [failure] * len(batch)
        metrics.batch_stored(len(batch), time.perf_counter() - started, self._queue.qsize())
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # the client may have gone; the vote is stored all the same
                future.set_result(outcome)

    def _write(self, ballots: list[Ballot]) -> list[Outcome]:
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                with self._turn, self._engine.begin() as connection:
                    return write_batch(connection, ballots)
            except OperationalError as exc:  # deadlock, serialization failure, lock timeout
                if attempt == TRANSIENT_RETRIES or not _transient(exc):
                    raise
                log.warning("retrying a batch after a transient error: %s", exc.orig)
        raise AssertionError("unreachable")


def _transient(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return any(s in text for s in ("deadlock", "could not serialize", "database is locked"))
