"""Every drill runs the real server on a SQLite file of its own, copied from the migrated
template (`serve` would migrate an empty file too, only slower)."""

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.drills.support import LiveServer, MakeServer


@pytest.fixture
def make_server(migrated_template: Path, tmp_path: Path) -> Iterator[MakeServer]:
    """`make_server(folder_of_the_database, extra_env)`: a server (not started) on a fresh
    migrated SQLite file in that folder; its log and metrics stay in `tmp_path`. Whatever
    the test did, every server made is killed at the end."""
    made: list[LiveServer] = []

    def make(database_folder: Path, extra_env: Mapping[str, str]) -> LiveServer:
        database = database_folder / "paredao.db"
        shutil.copyfile(migrated_template, database)
        folder = tmp_path / f"server-{len(made)}"
        folder.mkdir()
        server = LiveServer(database, folder, extra_env)
        made.append(server)
        return server

    yield make
    for server in made:
        server.kill()
