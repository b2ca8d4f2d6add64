"""Fixtures over the shared support (loaded by tests/conftest.py as a plugin)."""

import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.server import ROOMY_VOTE_DEADLINE_S, LiveServer

# `make_server(database, extra_env, workers)`: see the fixture.
MakeServer = Callable[..., LiveServer]


@pytest.fixture
def make_server(migrated_template: Path, tmp_path: Path) -> Iterator[MakeServer]:
    """`make_server(database, extra_env={}, workers=2, vote_deadline_s=…)`: a server (not
    started) on `database`, a URL, or a folder where a fresh migrated SQLite file is put
    (copied from the template: `serve` would migrate an empty file too, only slower); its
    logs and metrics stay in `tmp_path`. Whatever the test did, every server made is killed
    at the end."""
    made: list[LiveServer] = []

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
    for server in made:
        server.kill()
