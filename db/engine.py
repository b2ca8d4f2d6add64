"""Engines, with the SQLite settings that make the embedded default durable and concurrent."""

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# Execution option naming how SQLite should begin a transaction: "IMMEDIATE" takes the write
# lock at BEGIN, so a writing unit of work waits its turn (busy_timeout) instead of failing
# when it upgrades from reading to writing.
SQLITE_BEGIN = "sqlite_begin"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 10, busy_timeout_s: float = 5.0) -> Engine:
    """An engine for `url`; for SQLite: WAL, synchronous=FULL, foreign keys on, and a busy
    timeout: how long a statement waits for another connection's lock before it fails with
    "database is locked" (a vote has a shorter deadline of its own; see the group-commit
    writer).

    For PostgreSQL: sessions in UTC (so `date_trunc('hour', timestamptz)` buckets by UTC
    hours), and a pool per worker process of `pool_size` connections plus as many again in
    bursts: one for the vote writer's thread, the rest for reads in the threadpool.
    """
    if not is_sqlite(url):
        connect_args = {"options": "-c timezone=utc"} if url.startswith("postgresql") else {}
        return create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            connect_args=connect_args,
        )

    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s}
    )
    busy_timeout_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, instead of pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed transaction survives a power cut, not just a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


# What a read raises when the database cannot answer it now (down, restarting, its connections
# all taken): a 503 to retry, never a 500. Other database errors are bugs.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)


@contextmanager
def engine_for(url: str, *, pool_size: int = 1) -> Iterator[Engine]:
    """An engine for one command's work on `url`, disposed (its connections closed) after."""
    engine = make_engine(url, pool_size=pool_size)
    try:
        yield engine
    finally:
        engine.dispose()


def is_transient(exc: DBAPIError) -> bool:
    """Whether a database error passes if tried again: a lock wait that timed out, a
    deadlock, a serialization failure."""
    text = str(exc.orig).lower()
    return any(
        s in text for s in ("deadlock", "could not serialize", "database is locked", "lock timeout")
    )


def writer_engine(engine: Engine) -> Engine:
    """The same engine, but each transaction takes SQLite's write lock when it begins."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})


class WriterTurn:
    """Takes turns between the vote writers of all processes on one SQLite file.

    SQLite lets one transaction write at a time, and a writer that finds the lock taken
    polls with sleeps of up to 100 ms (its busy handler), which ruins latency when several
    worker processes write at once. A blocking `flock` on a side file hands the turn over
    as soon as it is released. A writer that must not block (on an event loop) waits on the
    turn's bell instead: a FIFO beside it that every release rings with one byte, readable
    by the event loop (`bell`, `hush`). For other databases (which lock rows) it does
    nothing.
    """

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._path = f"{database}.writer-lock" if database and database != ":memory:" else None
        self._fd: int | None = None
        self._bell: int | None = None
        self._no_bell = False

    def __enter__(self) -> None:
        if self._path is None:
            return
        fcntl.flock(self._file(), fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        self.release()

    def take_if_free(self) -> bool:
        """Take the turn if no other process holds it, without waiting."""
        if self._path is None:
            return True
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._ring()

    def bell(self) -> int | None:
        """A descriptor that turns readable when a writer of the file releases the turn
        (None where there are no turns, or no FIFOs): wait on it, `hush` it, then
        `take_if_free`. A ring may be read by another waiter, or be an old one: wait with a
        timeout too."""
        if self._path is None or self._no_bell:
            return None
        if self._bell is None:
            path = f"{self._path}-bell"
            try:
                with contextlib.suppress(FileExistsError):
                    os.mkfifo(path, 0o600)
                # Read and write ends in one: opening never blocks, and a ring nobody waits
                # for stays in the pipe (until it is full: then it is dropped).
                self._bell = os.open(path, os.O_RDWR | os.O_NONBLOCK)
            except OSError:  # a file system without FIFOs: the waiters look on a timer
                self._no_bell = True
        return self._bell

    def hush(self) -> None:
        """Read the rings waiting in the bell, so that it waits for the next release."""
        if self._bell is None:
            return
        with contextlib.suppress(BlockingIOError):
            while os.read(self._bell, 4096):
                pass

    def _ring(self) -> None:
        bell = self.bell()
        if bell is not None:
            with contextlib.suppress(BlockingIOError):  # the pipe is full: rung already
                os.write(bell, b"\0")

    def _file(self) -> int:
        assert self._path is not None
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def close(self) -> None:
        for fd in (self._fd, self._bell):
            if fd is not None:
                os.close(fd)
        self._fd = self._bell = None
