"""Fixtures over the shared support (loaded by tests/conftest.py as a plugin)."""

import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from config import KafkaSettings
from tests.support.consumer import ConsumerProcess
from tests.support.server import ROOMY_VOTE_DEADLINE_S, LiveServer

# `make_server(database, extra_env, workers)`: see the fixture.
MakeServer = Callable[..., LiveServer]
# `start_consumer(name, batch_max=500)`: see the fixture.
StartConsumer = Callable[..., ConsumerProcess]

T = TypeVar("T")


@contextmanager
def ended_after(end: Callable[[T], object]) -> Iterator[list[T]]:
    """A list for what a fixture makes; at the end, whatever the test did, `end` on each."""
    made: list[T] = []
    yield made
    for each in made:
        end(each)


@pytest.fixture
def make_server(migrated_template: Path, tmp_path: Path) -> Iterator[MakeServer]:
    """`make_server(database, extra_env={}, workers=2, vote_deadline_s=…)`: a server (not
    started) on `database`, a URL, or a folder where a fresh migrated SQLite file is put
    (copied from the template: `serve` would migrate an empty file too, only slower); its
    logs and metrics stay in `tmp_path`. Whatever the test did, every server made is killed
    at the end."""
    with ended_after(LiveServer.kill) as made:

        def make(
            database: str | Path,
            extra_env: Mapping[str, str] | None = None,
            workers: int = 2,
            vote_deadline_s: float | None = ROOMY_VOTE_DEADLINE_S,
        ) -> LiveServer:
            if isinstance(database, Path):
                shutil.copyfile(migrated_template, database / "paredao.db")
                database = f"sqlite:///{database / 'paredao.db'}"
            folder = tmp_path / f"server-{len(made)}"
            folder.mkdir()
            server = LiveServer(database, folder, extra_env, workers, vote_deadline_s)
            made.append(server)
            return server

        yield make


@pytest.fixture
def start_consumer(
    database_url: str, kafka: KafkaSettings, tmp_path: Path
) -> Iterator[StartConsumer]:
    """`start_consumer(name, batch_max=500)`: a `python main.py consumer` process of the
    test's group (its folder `tmp_path/name`). Whatever the test did, every one started is
    gone at the end."""
    with ended_after(ConsumerProcess.close) as started:

        def start(name: str, batch_max: int = 500) -> ConsumerProcess:
            member = ConsumerProcess(database_url, kafka, tmp_path, name, batch_max)
            started.append(member)
            return member

        yield start
