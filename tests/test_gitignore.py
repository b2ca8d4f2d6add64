"""Every file the server leaves beside its SQLite database is ignored by git, so a developer
who runs `make run` in the project folder never commits a database, its journal, or the vote
writer's socket and lock."""

import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.writer.process import socket_path

ROOT = Path(__file__).resolve().parents[1]
GIT = shutil.which("git") or "git"


def in_git_checkout() -> bool:
    probe = subprocess.run(
        [GIT, "rev-parse", "--is-inside-work-tree"], cwd=ROOT, capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(not in_git_checkout(), reason="not a git checkout")
def test_files_beside_the_database_are_ignored() -> None:
    database = "paredao.db"  # make run's default, in the working directory
    writer_socket = socket_path(database)
    beside = [
        database,
        f"{database}-wal",
        f"{database}-shm",
        f"{database}.writer-lock",  # the writer threads' turn-taking lock (db/engine.py)
        f"{database}.writer-lock-bell",  # the FIFO its releases ring (db/engine.py)
        writer_socket,  # the vote writer process's socket
        f"{writer_socket}.lock",  # held while that process lives
    ]
    check = subprocess.run(
        [GIT, "check-ignore", "--no-index", "--verbose", "--non-matching", *beside],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    not_ignored = [line for line in check.stdout.splitlines() if line.startswith("::")]
    assert not_ignored == [], check.stdout
