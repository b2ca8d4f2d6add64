"""The group-commit writer: concurrent votes are stored together, one transaction per batch.

Each request puts its ballot on a bounded queue and awaits its own outcome. One task takes
whatever is queued (up to `max_batch`, waiting at most `max_wait_s` for more), stores the
batch in one transaction in a worker thread, and answers each request only after COMMIT:
an acknowledged vote is durable. While a batch commits, the next one gathers.

Load is shed by time, not by queue length: a vote has `deadline_s` to be stored. When its
deadline passes while it waits (in the queue, or in a batch that waits for the database's
lock), it is answered 503 with Retry-After at once, and it is never stored afterwards: the
transaction that holds the lock claims each vote of its batch before writing it, and a vote
claimed is one whose deadline had not passed and whose 503 was not sent; the others are left
out. A claimed vote is answered when its batch commits, a moment later.

A batch is written in a thread of the writer (PostgreSQL, which waits on the network), or, on
a SQLite file with `on_loop`, on the event loop itself: no thread hop, no contest for the
interpreter lock. The loop awaits the file's write turn (`WriterTurn`) without blocking, and
its transaction never waits for SQLite's lock (busy timeout 0): if another connection holds
it (an admin's write, the housekeeper), the batch goes to the thread, which waits within the
votes' deadline. What blocks the loop is the batch's own work and its fsync (a COMMIT in a
thread, the loop taking votes meanwhile, measured 5 % slower: bench/RESULTS.md).
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from db.engine import WriterTurn, is_transient, make_engine, writer_engine
from db.votes import Outcome, write_batch
from model.ballot import Accepted, Ballot
from model.errors import DomainError, Unavailable
from observability import metrics
from pipeline.writer.deadlines import Deadlines, Pending, too_late

log = logging.getLogger(__name__)

_STOP = object()
TRANSIENT_RETRIES = 3
# How long a writer on the event loop sleeps at most for its turn before it looks again (a
# release rings it awake sooner). It used to poll every 0.5 ms, which uvloop's timers, in
# whole milliseconds, round to 0: the waiting worker spun, ~190 polls a millisecond, on the
# cores the worker holding the turn needed.
TURN_WAIT_S = 0.002


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
        deadline_s: float = 1.5,
        unico_per_device: int | None = None,
        on_loop: bool = False,
    ) -> None:
        """`unico_per_device`: the votos únicos a voter_id may cast per paredão (anonymous
        mode, `Settings.device_unico_limit`); None: no such limit (`db.votes.decide_batch`).
        `on_loop`: on a SQLite file, write batches on the event loop when the database is
        free (see the module doc); ignored elsewhere."""
        self._engine = writer_engine(engine)
        # The loop's own connection never waits for SQLite's lock: busy, it hands over.
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._loop_engine = None
        # Held for the writer's life: a transaction on a connection taken from the pool and
        # given back costs ~100 µs of CPU more (checkout, reset, events) than on one held.
        self._loop_connection: Connection | None = None
        if on_loop and database not in (None, "", ":memory:"):
            url = engine.url.render_as_string(hide_password=False)
            self._loop_engine = writer_engine(make_engine(url, pool_size=1, busy_timeout_s=0))
        self._unico_per_device = unico_per_device
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
        self._deadline_s = deadline_s
        self._queue: asyncio.Queue[Pending | object] = asyncio.Queue(maxsize=queue_size)
        self._deadlines = Deadlines()
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
        self._deadlines.stop()
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None
        if self._loop_engine is not None:
            self._loop_engine.dispose()

    async def submit(self, ballot: Ballot) -> Accepted:
        """Store `ballot`; returns once it is committed, or raises the refusal (503 when it
        could not be stored within the deadline: then it never will be)."""
        outcome = await self.enqueue(ballot)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    def enqueue(self, ballot: Ballot, deadline: float | None = None) -> "asyncio.Future[Outcome]":
        """Queue `ballot`; the future is its outcome: `Accepted` once committed, else the
        refusal. `deadline` (`time.monotonic()`, the same clock in every process of the
        box) defaults to `deadline_s` from now; a vote past it is answered 503, never stored."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        if not self._accepting:
            future.set_result(Unavailable("the server is shutting down: try again", 1))
            return future
        now = time.monotonic()
        pending = Pending(ballot, future, now + self._deadline_s if deadline is None else deadline)
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            future.set_result(Unavailable("too many votes at once: try again in a second", 1))
            return future
        self._deadlines.watch(pending, loop)
        return future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            # A batch is cut once a transaction may take it: until then its votes gather in
            # the queue (on SQLite, while the one before commits).
            await self._slots.acquire()
            batch: list[Pending] = []
            item = await self._queue.get()
            if item is _STOP:
                self._slots.release()
                break
            batch.append(item)  # type: ignore[arg-type]
            stopping = self._drain_into(batch)
            if not stopping and len(batch) < self._max_batch and self._max_wait_s > 0:
                stopping = await self._gather(batch)
            task = asyncio.create_task(self._commit(batch))
            self._committing.add(task)
            task.add_done_callback(self._committed)
        # Nothing follows the stop marker: `submit` refuses votes before it is queued.
        await asyncio.gather(*self._committing)

    async def _gather(self, batch: list[Pending]) -> bool:
        """Let more votes join `batch` before it is cut; True if the stop marker was met.

        The loop's writer takes what the event loop has already read: it lets the loop run
        one round at a time (the requests that came are parsed and queued) until a round
        brings nothing, or `max_wait_s` has passed; its batch takes the votes that come while
        it waits for its turn too. Sleeping `max_wait_s` instead (1 ms, longer on uvloop's
        millisecond timers) left the worker idle once its clients' requests were all in
        (c=64 on two cores: 2–20 % fewer votes/s in four alternating pairs, bench/RESULTS.md).
        A writer in a thread waits `max_wait_s`: its batches gather while the one before
        commits."""
        if self._loop_engine is None:
            await asyncio.sleep(self._max_wait_s)
            return self._drain_into(batch)
        until = time.monotonic() + self._max_wait_s
        while len(batch) < self._max_batch:
            await asyncio.sleep(0)
            before = len(batch)
            if self._drain_into(batch):
                return True
            if len(batch) == before or time.monotonic() >= until:
                break
        return False

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
        started = time.perf_counter()
        try:
            outcomes = await self._write_on_loop(batch) if self._loop_engine else None
            if outcomes is None:
                loop = asyncio.get_running_loop()
                outcomes = await loop.run_in_executor(self._thread, self._write, batch)
        except Exception:
            log.exception("could not store a batch of %d votes", len(batch))
            failure = Unavailable("the vote could not be stored: retry with the same vote_id")
            outcomes = [failure] * len(batch)
        metrics.batch_stored(len(batch), time.perf_counter() - started, self._queue.qsize())
        for pending, outcome in zip(batch, outcomes, strict=True):
            if not pending.future.done():  # the client may have gone; a stored vote stays
                pending.future.set_result(outcome)

    def _write(self, batch: list[Pending]) -> list[Outcome]:
        """Store the batch's votes that are still in time, in one transaction (in a thread)."""
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                with self._turn:
                    return self._transaction(self._engine.begin, batch)
            except OperationalError as exc:  # deadlock, serialization failure, lock timeout
                if attempt == TRANSIENT_RETRIES or not is_transient(exc):
                    raise
                log.warning("retrying a batch after a transient error: %s", exc.orig)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _write_on_loop(self, batch: list[Pending]) -> list[Outcome] | None:
        """The batch stored on the event loop (see the module doc), or None when the database
        is busy with another connection: then it is the thread's to store."""
        assert self._loop_engine is not None
        if not await self._take_turn(min(p.deadline for p in batch)):
            return None  # the thread answers 503 for what is late
        try:
            # The votes that came while this batch waited for its turn go with it: fewer,
            # larger transactions under a burst, and none of them waits a turn more.
            if self._drain_into(batch):
                self._queue.put_nowait(_STOP)  # for `_run`, which ends on it
            return self._transaction(self._loop_begin, batch)
        except OperationalError as exc:
            if not is_transient(exc):
                raise
            return None  # SQLite's lock is held elsewhere: nothing was claimed or stored
        finally:
            self._turn.release()

    async def _take_turn(self, last_call: float) -> bool:
        """Take the write turn, waiting while another worker's batch holds it (a few
        milliseconds) on the turn's bell: the loop sleeps until a release rings it, or
        `TURN_WAIT_S` at most (a ring another waiter read). False at `last_call`."""
        if self._turn.take_if_free():
            return True
        bell = self._turn.bell()
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        if bell is not None:
            loop.add_reader(bell, wake)
        try:
            while True:
                self._turn.hush()  # a release from now on rings again
                if self._turn.take_if_free():
                    return True
                if time.monotonic() >= last_call:
                    return False
                timer = loop.call_later(TURN_WAIT_S, wake)
                await woken
                timer.cancel()
                woken = loop.create_future()
        finally:
            if bell is not None:
                loop.remove_reader(bell)

    @contextmanager
    def _loop_begin(self) -> Iterator[Connection]:
        """A transaction on the event loop's connection (opened again if it was lost)."""
        assert self._loop_engine is not None
        connection = self._loop_connection
        if connection is None or connection.closed or connection.invalidated:
            connection = self._loop_connection = self._loop_engine.connect()
        with connection.begin():
            yield connection

    def _transaction(
        self, begin: Callable[[], AbstractContextManager[Connection]], batch: list[Pending]
    ) -> list[Outcome]:
        """One transaction (`begin`) storing the votes of `batch` still in time; the others
        are answered 503. After a rollback the claimed votes wait again (and it raises)."""
        claimed: list[Pending] = []
        try:
            with begin() as connection:
                claimed, outcomes = self._claim_and_write(connection, batch)
        except OperationalError:
            self._deadlines.release(claimed)  # rolled back: nothing of theirs was stored
            raise
        return _answers(batch, claimed, outcomes)

    def _claim_and_write(
        self, connection: Connection, batch: list[Pending]
    ) -> tuple[list[Pending], list[Outcome]]:
        # SQLite's write lock is held from BEGIN (IMMEDIATE): what is claimed now is written
        # without waiting. PostgreSQL locks rows as it goes: a lock wait past the deadline
        # fails the batch, to be tried again.
        claimed = self._deadlines.claim(batch)
        if not claimed:
            return [], []
        self._bound_lock_waits(connection, claimed)
        outcomes = write_batch(
            connection, [p.ballot for p in claimed], unico_per_device=self._unico_per_device
        )
        return claimed, outcomes

    def _bound_lock_waits(self, connection: Connection, claimed: list[Pending]) -> None:
        if connection.dialect.name != "postgresql":
            return
        left_ms = max(1, int((min(p.deadline for p in claimed) - time.monotonic()) * 1000))
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {left_ms}")


def _answers(
    batch: list[Pending], claimed: list[Pending], outcomes: list[Outcome]
) -> list[Outcome]:
    """Each vote of `batch`: its outcome if it was claimed and written, else 503 (too late)."""
    if len(claimed) == len(batch):
        return outcomes  # every vote claimed, in the batch's order (`Deadlines.claim`)
    written = dict(zip(map(id, claimed), outcomes, strict=True))
    return [written[id(p)] if id(p) in written else too_late() for p in batch]
