"""Real server processes: two replicas on one database (SQLite file or PostgreSQL), and a
SIGTERM during a burst."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from db.migrate import upgrade_to_head
from tests.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    ON_POSTGRES,
    SECRET_KEY,
    application,
    cpf,
    empty_postgres,
)

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, database_url: str, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
            "PAREDAO_SECRET_KEY": SECRET_KEY,
            "PAREDAO_RESULTS_CACHE_S": "0",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "main:create_app",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/paredoes", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        errors = self.process.stderr.read().decode() if self.process.stderr else ""
        raise RuntimeError(f"server did not start: {errors}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database the servers share: a fresh SQLite file, or the emptied PostgreSQL one."""
    if ON_POSTGRES:
        url: str = request.getfixturevalue("database_url")
        empty_postgres(url)
        return url
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    upgrade_to_head(url)
    return url


@pytest.fixture
def replicas(database: str) -> Iterator[tuple[Server, Server]]:
    a, b = Server(database), Server(database)
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def open_paredao(api: str) -> tuple[int, int]:
    ids = []
    for i in range(2):
        r = httpx.post(f"{api}/candidates", json=application(email=f"r{i}@x.com"))
        ids.append(r.json()["id"])
        httpx.patch(f"{api}/candidates/{ids[-1]}", json={"status": "housemate"}, headers=ADMIN)
    r = httpx.post(
        f"{api}/paredoes",
        json={"title": "P", "kind": "eliminate", "nominee_ids": ids, "require_captcha": False},
        headers=ADMIN,
    )
    pid = r.json()["id"]
    assert httpx.post(f"{api}/paredoes/{pid}/open", headers=ADMIN).status_code == 200
    return pid, ids[0]


def test_rate_limit_and_cpf_are_exact_across_replicas(replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    pid, nominee = open_paredao(a.url)

    def cast(i: int, body: dict[str, object]) -> int:
        server = (a, b)[i % 2]  # alternate: each replica takes half of the votes
        return httpx.post(f"{server.url}/paredoes/{pid}/votes", json=body, timeout=30).status_code

    torcida = {"nominee_id": nominee, "mode": "torcida", "voter_id": "same-voter"}
    unico = {"nominee_id": nominee, "mode": "unico", "voter_id": "x", "cpf": cpf(77)}
    with ThreadPoolExecutor(16) as pool:
        torcida_codes = list(pool.map(cast, range(30), [torcida] * 30))
        unico_codes = list(pool.map(cast, range(20), [unico] * 20))
    assert sorted(torcida_codes) == [202] * 10 + [429] * 20
    assert sorted(unico_codes) == [202] + [409] * 19
    stats = httpx.get(f"{b.url}/paredoes/{pid}/stats", headers=ADMIN).json()
    assert stats["total_votes"] == 11


def test_sigterm_during_a_burst_keeps_every_acknowledged_vote(database: str) -> None:
    server, reader = Server(database), Server(database)
    try:
        pid, nominee = open_paredao(server.url)

        http = httpx.Client(timeout=5, limits=httpx.Limits(max_connections=32))

        def cast(i: int) -> int:
            body = {"nominee_id": nominee, "mode": "torcida", "voter_id": f"v{i}"}
            try:
                return http.post(f"{server.url}/paredoes/{pid}/votes", json=body).status_code
            except httpx.TransportError:
                return 0  # refused or cut off once the server stopped: not acknowledged

        with http, ThreadPoolExecutor(32) as pool:
            futures = [pool.submit(cast, i) for i in range(3000)]
            time.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            codes = [f.result() for f in futures]
        # uvicorn shuts down gracefully, then re-raises SIGTERM to exit as the signal asks.
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
        acknowledged = codes.count(202)
        assert 0 < acknowledged < 3000, codes.count(0)
        assert set(codes) <= {0, 202, 503}
        stats = httpx.get(f"{reader.url}/paredoes/{pid}/stats", headers=ADMIN).json()
        # Every acknowledged vote is stored. A request cut off by the shutdown after its vote
        # was stored (its 202 lost on the wire) may add to the count, never more than those.
        cut_off = codes.count(0)
        assert acknowledged <= stats["total_votes"] <= acknowledged + cut_off
    finally:
        server.stop()
        reader.stop()
