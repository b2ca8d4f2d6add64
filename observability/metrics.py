"""Every Prometheus metric the API exports, and the `/metrics` exposition.

Multiprocess mode: when `PROMETHEUS_MULTIPROC_DIR` names a directory at start (`python
main.py serve` with several workers sets one), each process writes its values into files
there and `/metrics`, whichever worker answers it, adds up every worker's. Without it a
process exports its own values. prometheus_client reads the variable when it is first
imported, so it must be set before the process starts, and the directory emptied between
runs (`serve` does both).

In multiprocess mode every increment is a write into a memory-mapped file under a lock
(~1 µs; a histogram's observation two of them): a vote made five (~10 µs). So what each
request counts (`request_answered`, `vote_answered`, `cache_read`) is added up in memory on
the event loop and written to the files every `FLUSH_EVERY_S` (`Pending`): a scrape sees the
other workers' counts at most that late, its own worker's at once (it writes them first),
and a worker that stops writes what it counted (`process_exiting`). A worker killed outright
loses at most that last fraction of a second of counts, never a vote.

The consumer (`python main.py consumer`) exports its own metrics on a port of its own
(`pipeline/kafka/metrics.py`).
"""

import asyncio
import atexit
import bisect
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Decided once, as prometheus_client decides how it stores values (at its first import).
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# --- HTTP: every request, the vote door's included (labelled by route template) ---------------
HTTP_REQUESTS = Counter(
    "paredao_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "paredao_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)

# --- Votes, as the API answered them ----------------------------------------------------------
VOTES = Counter(
    "paredao_votes_total",
    "Votes answered by the API: outcome counted (stored, direct path), queued (in the Kafka "
    "log), replay (a vote_id sent again), refused (reason: the error code) or shed (503).",
    ["ingest", "mode", "outcome", "reason"],
)

# --- The group-commit writer (direct path) -----------------------------------------------------
WRITER_QUEUE = Gauge(
    "paredao_vote_writer_queue_depth",
    "Votes waiting in the group-commit writer's queue when it last took a batch.",
    multiprocess_mode="livesum",
)
WRITER_BATCH = Histogram(
    "paredao_vote_batch_size",
    "Votes per batch the group-commit writer stored in one transaction.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
WRITER_COMMIT = Histogram(
    "paredao_vote_commit_seconds",
    "Time to store one batch of votes (its transaction, from BEGIN to COMMIT).",
    buckets=LATENCY_BUCKETS,
)

# --- Read caches (results, stats, the paredão catalog) -----------------------------------------
CACHE = Counter(
    "paredao_cache_requests_total",
    "Reads of a per-process cache, by cache and result (hit or miss).",
    ["cache", "result"],
)


FLUSH_EVERY_S = 0.25


class Pending:
    """Increments counted in memory and written to the multiprocess files every
    `FLUSH_EVERY_S` by a timer on the event loop that counted the first of them (see the
    module doc). Where no loop runs, a value is written at once."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.amounts: dict[Any, float] = {}  # a prometheus_client value → its increment
        self.lock = threading.Lock()  # `/metrics` flushes from a thread of the pool
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None

    def add(self, value: Any, amount: float) -> None:
        self.add_all(((value, amount),))

    def add_all(self, increments: tuple[tuple[Any, float], ...]) -> None:
        """`add` of each (value, amount), under one take of the lock."""
        with self.lock:
            if self.timer is None or self.loop is None or self.loop.is_closed():
                loop = asyncio.events._get_running_loop()
                if loop is None:
                    for value, amount in increments:
                        value.inc(amount)
                    return
                self.loop = loop
                self.timer = loop.call_later(self.every_s, self.flush_due)
            amounts = self.amounts
            for value, amount in increments:
                amounts[value] = amounts.get(value, 0.0) + amount

    def flush_due(self) -> None:
        with self.lock:
            self.timer = None
        self.flush()

    def flush(self) -> None:
        """Write every increment counted so far."""
        with self.lock:
            amounts, self.amounts = self.amounts, {}
        for value, amount in amounts.items():
            value.inc(amount)


_pending = Pending(FLUSH_EVERY_S)


def exposition() -> tuple[bytes, str]:
    """The API's metrics in the Prometheus text format, and its content type: every worker's
    values added up in multiprocess mode, this process's otherwise."""
    if MULTIPROCESS:
        _pending.flush()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exiting() -> None:
    """Drop this process's live gauges from the shared directory (a worker that stops must
    not keep adding its last queue depth)."""
    if MULTIPROCESS:
        _pending.flush()
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


# Label values clients choose are bounded, so a client cannot grow the series without end.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Each series' labelled children, found once by their label values: `labels()` validates and
# locks on every call, the hot path's cost. (Keys are label values already bounded.)
_requests: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # the counter's, the histogram's
_counted: dict[tuple[Counter, tuple[str, ...]], Any] = {}


def _inc(metric: Counter, labels: tuple[str, ...]) -> None:
    """Add one to a labelled counter (in memory first, in multiprocess mode)."""
    child = _counted.get((metric, labels))
    if child is None:
        child = _counted[(metric, labels)] = metric.labels(*labels)
    if MULTIPROCESS:
        _pending.add(child._value, 1.0)
    else:
        child.inc()


def request_answered(method: str, route: str, status: int, seconds: float) -> None:
    """A request answered: its count by method, route template and status, and its duration
    (counted in memory first in multiprocess mode)."""
    if method not in METHODS:
        method = "other"
    series = _requests.get((method, route, status))
    if series is None:
        series = _requests[(method, route, status)] = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_DURATION.labels(method, route),
        )
    requests, duration = series
    if MULTIPROCESS:
        _pending.add_all(answer_increments(requests, duration, seconds))
    else:
        requests.inc()
        duration.observe(seconds)


def answer_increments(
    requests: Any, duration: Any, seconds: float
) -> tuple[tuple[Any, float], ...]:
    """The values a request answered adds to, and by how much: one to its counter (a child of
    `HTTP_REQUESTS`), and `Histogram.observe(seconds)`'s own to its duration (a child of
    `HTTP_DURATION`): the sum, and one to the first bucket whose bound holds it."""
    bucket = duration._buckets[bisect.bisect_left(duration._upper_bounds, seconds)]
    return (requests._value, 1.0), (duration._sum, seconds), (bucket, 1.0)


def vote_answered(ingest: str, mode: str, outcome: str, reason: str = "") -> None:
    _inc(VOTES, (ingest, mode, outcome, reason))


def batch_stored(size: int, seconds: float, still_queued: int) -> None:
    """One batch of the group-commit writer committed (or failed) after `seconds`."""
    WRITER_BATCH.observe(size)
    WRITER_COMMIT.observe(seconds)
    WRITER_QUEUE.set(still_queued)


def cache_read(cache: str, *, hit: bool) -> None:
    _inc(CACHE, (cache, "hit" if hit else "miss"))


def prepare_multiprocess(workers: int) -> Path | None:
    """Before starting `workers` worker processes: with several, make them count together.

    A `PROMETHEUS_MULTIPROC_DIR` already set is emptied of earlier runs' files (the ones of
    this process are kept: it may already count there); else, with more than one worker, a
    fresh directory is made and set for the workers to inherit. Returns the directory made
    here (removed when this process exits), or None."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        mine = f"_{os.getpid()}.db"
        for stale in Path(given).glob("*.db"):
            if not stale.name.endswith(mine):
                stale.unlink(missing_ok=True)
        return None
    if workers < 2:
        return None
    made = Path(tempfile.mkdtemp(prefix="paredao-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(made)
    atexit.register(shutil.rmtree, made, ignore_errors=True)
    return made
