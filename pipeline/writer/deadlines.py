"""The votes a group-commit writer has taken, and their deadlines: each vote is either
answered 503 at its deadline while it still waits, or claimed by the transaction that writes
it, never both (`pipeline.writer.group_commit` tells why)."""

import asyncio
import collections
import enum
import heapq
import itertools
import threading
import time

from db.votes import Outcome
from model.ballot import Ballot
from model.errors import Unavailable

# The deadline timer fires this long after the first deadline, for every vote due by then in
# one go: a 503 at most this late (never early), not a timer per vote or two under a burst.
SWEEP_SLACK_S = 0.005


class _State(enum.Enum):
    WAITING = enum.auto()  # queued, or in a batch not yet written
    CLAIMED = enum.auto()  # being written by a transaction that holds the lock
    DROPPED = enum.auto()  # its deadline passed first: answered 503, never to be stored


class Pending:
    """A ballot on its way to the database: its answer, and when it stops waiting."""

    __slots__ = ("ballot", "deadline", "future", "state")

    def __init__(self, ballot: Ballot, future: asyncio.Future[Outcome], deadline: float) -> None:
        self.ballot = ballot
        self.future = future
        self.deadline = deadline  # time.monotonic()
        self.state = _State.WAITING


def too_late() -> Unavailable:
    return Unavailable(
        "the vote could not be stored in time and was not stored: retry with the same vote_id",
        retry_after_s=1,
    )


class Deadlines:
    """Every vote taken, until its deadline passes; one timer for the first. Votes come in
    the order of their deadlines when each has the writer's `deadline_s` (a queue); those
    given an earlier deadline than the last one taken (the writer process's) go in a heap.
    The event loop drops votes, writer threads claim them: one lock guards their states."""

    def __init__(self) -> None:
        self._claims = threading.Lock()
        self._in_order: collections.deque[Pending] = collections.deque()
        self._out_of_order: list[tuple[float, int, Pending]] = []
        self._arrivals = itertools.count()
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, pending: Pending, loop: asyncio.AbstractEventLoop) -> None:
        """Answer `pending` 503 at its deadline if it still waits then."""
        self._loop = loop
        in_order = self._in_order
        if not in_order or pending.deadline >= in_order[-1].deadline:
            in_order.append(pending)
        else:
            heapq.heappush(self._out_of_order, (pending.deadline, next(self._arrivals), pending))
        if self._sweep is None or pending.deadline < self._sweep_at:
            self._arm_sweep(loop)

    def stop(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

    def claim(self, batch: list[Pending]) -> list[Pending]:
        """Claim the votes still waiting and in time; drop those whose deadline passed."""
        now = time.monotonic()
        claimed = []
        with self._claims:
            for pending in batch:
                if pending.state is _State.WAITING and now < pending.deadline:
                    pending.state = _State.CLAIMED
                    claimed.append(pending)
                else:
                    pending.state = _State.DROPPED
        return claimed

    def release(self, claimed: list[Pending]) -> None:
        """After a rollback: the claimed votes wait again for a retry, and those whose
        deadline passed meanwhile are answered 503 now (their timer found them claimed)."""
        now = time.monotonic()
        late = []
        with self._claims:
            for pending in claimed:
                if now < pending.deadline:
                    pending.state = _State.WAITING
                else:
                    pending.state = _State.DROPPED
                    late.append(pending)
        if late and self._loop is not None:
            self._loop.call_soon_threadsafe(_answer_late, late)

    def _arm_sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """One timer, at the earliest deadline of the votes taken (not one per vote: a
        timer, its cancel and its callback were a tenth of a vote's cost in the writer)."""
        if self._sweep is not None:
            self._sweep.cancel()
        in_order, out_of_order = self._in_order, self._out_of_order
        if in_order and (not out_of_order or in_order[0].deadline <= out_of_order[0][0]):
            self._sweep_at = in_order[0].deadline
        else:
            self._sweep_at = out_of_order[0][0]
        self._sweep = loop.call_at(
            loop.time() + (self._sweep_at + SWEEP_SLACK_S - time.monotonic()), self._sweep_due
        )

    def _sweep_due(self) -> None:
        """Answer 503 to every vote whose deadline has passed while it waits (those answered
        already are only let go of here)."""
        self._sweep = None
        due = time.monotonic()
        in_order, out_of_order = self._in_order, self._out_of_order
        while in_order and in_order[0].deadline <= due:
            self._drop(in_order.popleft())
        while out_of_order and out_of_order[0][0] <= due:
            self._drop(heapq.heappop(out_of_order)[2])
        if in_order or out_of_order:
            self._arm_sweep(asyncio.get_running_loop())

    def _drop(self, pending: Pending) -> None:
        """At the vote's deadline: answer 503, unless a transaction is already writing it."""
        if pending.future.done():
            return
        with self._claims:
            if pending.state is not _State.WAITING:
                return  # claimed: its answer comes with its batch's commit
            pending.state = _State.DROPPED
        pending.future.set_result(too_late())


def _answer_late(late: list[Pending]) -> None:
    for pending in late:
        if not pending.future.done():
            pending.future.set_result(too_late())
