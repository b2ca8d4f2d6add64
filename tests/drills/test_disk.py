"""A disk that fails under the server: full (the database on a small tmpfs filled to the last
byte), or failing its fsyncs with EIO (an LD_PRELOAD shim). While it fails, every vote is
answered 503 with Retry-After in the error shape, never 500, and nothing acknowledged is
lost; once it works again, votes are accepted again; every 202 is stored once, and the tally
equals a recount."""

import asyncio
import errno
import os
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import skip_on_postgres
from tests.support.fixtures import MakeServer
from tests.support.paredoes import make_paredao_at, nominee_ids
from tests.support.server import LiveServer
from tests.support.votes import VoteLoad, assert_stored_once

# Past the sum of the drill's own bounded waits (server starts, loads, recounts): only a
# hang ends it by its timeout.
pytestmark = [pytest.mark.drill, skip_on_postgres, pytest.mark.timeout(600)]

# Room for a working database: its WAL alone grows to ~4 MB before SQLite checkpoints it
# (1,000 pages) and is then reused at that size; a 4 MB disk filled up again with the WAL
# after its ballast was freed, once the loop writer's batches got smaller at low load.
DISK_SIZE = "16m"
SHIM = Path(__file__).with_name("fsync_fail.c")
CONCURRENCY = 16


def cannot_run(reason: str) -> None:
    """What the machine does not allow fails the drill on CI, and skips it elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the drill must run)")
    pytest.skip(reason)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_SIZE, unmounted at the end (after the servers on it are killed: this
    fixture is set up before `make_server`, so it is torn down after)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        cannot_run("mount/umount are not installed")
    assert mount is not None and umount is not None
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        cannot_run(f"cannot mount a tmpfs (root and CAP_SYS_ADMIN needed): {done.stderr.strip()}")
    yield mount_point
    # The vote writer process leaves a moment after the workers it served: retry a while.
    for _ in range(50):
        if (
            subprocess.run([umount, str(mount_point)], capture_output=True, check=False).returncode
            == 0
        ):
            return
        time.sleep(0.1)
    subprocess.run([umount, str(mount_point)], check=True, timeout=30)


def fill(disk: Path) -> Path:
    """Write a ballast file until the disk is full; returns it."""
    ballast = disk / "ballast"
    chunk = b"\0" * 4096
    with ballast.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return ballast


@pytest.fixture(scope="module")
def fsync_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/drills/fsync_fail.c compiled into a shared library."""
    gcc = shutil.which("gcc")
    if gcc is None:
        cannot_run("gcc is not installed: the fsync shim cannot be compiled")
    assert gcc is not None
    library = tmp_path_factory.mktemp("shim") / "fsync_fail.so"
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-O2", "-o", str(library), str(SHIM), "-ldl"],
        check=True,
        timeout=60,
    )
    return library


async def cast(server: LiveServer, burst: VoteLoad, count: int) -> Counter[str]:
    """Cast `count` new votes; the answers they got."""
    before = burst.answers.copy()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await burst.run(http, CONCURRENCY, count=count)
    return burst.answers - before


async def until_accepted(server: LiveServer, burst: VoteLoad, timeout_s: float) -> float:
    """Cast votes until one is answered 202; how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if (await cast(server, burst, 1))["202"]:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"no vote accepted {timeout_s} s after the disk recovered")


def assert_shed_properly(server: LiveServer, burst: VoteLoad, failing: Counter[str]) -> None:
    """While the disk failed: 503s (with Retry-After, in the error shape), never a 500."""
    assert set(failing) <= {"202", "503"}, (failing, burst.samples)
    assert failing["503"], f"the disk failed but no vote was shed: {failing}"
    assert not burst.faults, burst.faults[:3]
    assert not server.statuses_answered()[500], server.errors_logged()


@contextmanager
def disk_full(disk: Path) -> Iterator[None]:
    """The disk full while inside; its space freed on the way out."""
    ballast = fill(disk)
    try:
        yield
    finally:
        ballast.unlink()


@contextmanager
def fsync_failing(trigger: Path) -> Iterator[None]:
    """Every fsync of a server under the shim failing while inside (`trigger` exists)."""
    trigger.touch()
    try:
        yield
    finally:
        trigger.unlink()


@dataclass
class Recovery:
    burst: VoteLoad
    failing: Counter[str]  # the answers while the disk failed
    took: float  # from the disk's repair to the first vote taken again
    stored: set[uuid.UUID]


async def shed_then_recover(
    server: LiveServer, fault: AbstractContextManager[None], votes: int, logged: str
) -> Recovery:
    """Votes taken, then `votes` more cast under `fault`: shed with 503 and `logged` in the
    error log; once repaired, taken again in-process (the next batch commits), and every
    vote stored once, none of the shed ones."""
    await asyncio.to_thread(server.start)
    paredao = await asyncio.to_thread(make_paredao_at, server.url, 2)
    burst = VoteLoad(paredao["id"], nominee_ids(paredao))
    assert await cast(server, burst, 100) == {"202": 100}
    with fault:
        failing = await cast(server, burst, votes)
        assert_shed_properly(server, burst, failing)
        assert any(logged in m for m in server.errors_logged()), server.errors_logged()
    took = await until_accepted(server, burst, 10)
    assert await cast(server, burst, 100) == {"202": 100}
    stored = await assert_stored_once(server.url, server.database_url, burst)
    assert not burst.shed & stored, "a vote answered 503 was stored"
    return Recovery(burst, failing, took, stored)


class TestFullDisk:
    async def test_votes_are_shed_while_full_and_taken_once_freed(
        self, small_disk: Path, make_server: MakeServer
    ) -> None:
        server = make_server(small_disk, {})
        r = await shed_then_recover(server, disk_full(small_disk), 400, "disk is full")
        print(
            f"full disk: {r.failing}; accepted again {r.took:.2f} s after the space was freed; "
            f"{len(r.stored)} stored, none of the {len(r.burst.shed)} shed; "
            f"logged: {server.errors_logged()}"
        )


class TestFailingFsync:
    async def test_votes_are_shed_while_fsync_fails_and_taken_once_it_works(
        self, fsync_shim: Path, make_server: MakeServer, tmp_path: Path
    ) -> None:
        trigger = tmp_path / "fsync-fails"
        server = make_server(
            tmp_path,
            {"LD_PRELOAD": str(fsync_shim), "DRILL_FSYNC_FAILS_WHILE": str(trigger)},
        )
        r = await shed_then_recover(server, fsync_failing(trigger), 200, "disk I/O error")
        burst = r.burst

        # fsync fails again, and the server is killed before anything else is written; it
        # restarts on a working disk.
        with fsync_failing(trigger):
            failing_again = await cast(server, burst, 100)
            assert_shed_properly(server, burst, failing_again)
            await asyncio.to_thread(server.kill)
        await asyncio.to_thread(server.start)
        stored = await assert_stored_once(server.url, server.database_url, burst)
        # The last batches' frames were written to the WAL before their fsync failed, and
        # SQLite's recovery at the restart may take them: a 503 after a failed fsync means
        # "maybe stored" (which is why it says to retry with the same vote_id).
        shed = set(burst.shed)
        shed_but_stored = shed & stored
        # Sent again with their vote_ids, the shed votes are all taken, and counted once.
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            before = burst.answers.copy()
            await burst.again(http, shed)
        assert burst.answers - before == {"202": len(shed)}, burst.samples
        stored = await assert_stored_once(server.url, server.database_url, burst)
        assert stored == burst.acked
        print(
            f"fsync failing: {r.failing}, then {failing_again}; accepted again {r.took:.2f} s"
            " after "
            f"fsync worked; after the kill -9 and restart {len(shed_but_stored)} of the "
            f"{len(shed)} shed votes were stored; {len(stored)} stored in all once sent again; "
            f"logged: {server.errors_logged()}"
        )
