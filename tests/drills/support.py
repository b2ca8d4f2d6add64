"""What the fault drills share: `python main.py serve` with two workers started as an operator
starts it (a process group of its own, so a drill can kill it whole), a burst of votos da
torcida that remembers every answer, and the check every drill ends with."""

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.observability.test_live_server import make_paredao
from tests.test_replicas import free_port

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
STARTED = "Application startup complete"


def server_environment() -> dict[str, str]:
    """The test process's environment without anything that configures Paredão (the
    developer's settings) or shifts the clock (the server keeps the real one)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAREDAO_", "KAFKA", "FAKETIME", "PROMETHEUS_"))
        and k not in ("DATABASE_URL", "LD_PRELOAD")
    }


class LiveServer:
    """`python main.py serve` with 2 workers on a SQLite file, run from `folder` (no `.env`
    there), configured by the environment built here plus `extra_env`. `start` may be
    called again after `kill`: same file, same port, a new log."""

    def __init__(
        self, database: Path, folder: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.database = database
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        metrics_dir = folder / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        self.env = {
            **server_environment(),
            "DATABASE_URL": f"sqlite:///{database}",
            "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
            "PAREDAO_SECRET_KEY": SECRET_KEY,
            "PAREDAO_PORT": str(self.port),
            "PAREDAO_WORKERS": str(WORKERS),
            "PAREDAO_RESULTS_CACHE_S": "0",
            # A SIGKILL leaves no chance to remove a directory serve would make in /tmp.
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            **(extra_env or {}),
        }
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / f"server-{self.starts}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def logged(self) -> list[dict[str, Any]]:
        """The JSON lines of every start's log."""
        return [
            json.loads(line)
            for start in range(1, self.starts + 1)
            for line in (self.folder / f"server-{start}.log").read_text().splitlines()
            if line.startswith("{")
        ]

    def errors_logged(self) -> Counter[str]:
        """The error lines the server logged, counted by what they say: the exception's last
        line when there is one (the batch sizes in the messages vary), else the message."""
        return Counter(
            _raised(line["exception"]) if "exception" in line else line["message"]
            for line in self.logged()
            if line["level"] == "error"
        )

    def statuses_answered(self) -> Counter[int]:
        """The status codes of the requests the server logged, counted."""
        return Counter(
            line["status"] for line in self.logged() if line["logger"] == "paredao.access"
        )

    def start(self, timeout_s: float = 60) -> None:
        """Start it and return once both workers have started and /readyz answers 200."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "main.py"), "serve"],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: killed whole by `kill`
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.log().count(STARTED) >= WORKERS and self._ready():
                return
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"python main.py serve did not start:\n{self.log()[-3000:]}")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def worker_pids(self) -> list[int]:
        """The supervisor's worker processes (its children started by multiprocessing's
        spawn, not its resource tracker), from /proc."""
        assert self.process is not None
        workers = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                command = (stat.parent / "cmdline").read_bytes()
            except (FileNotFoundError, ProcessLookupError):  # it ended while we looked
                continue
            if parent == self.process.pid and b"spawn_main" in command:
                workers.append(int(stat.parent.name))
        return workers

    def _group_alive(self) -> bool:
        """Whether a process of the server's group still runs (zombies hold nothing)."""
        assert self.process is not None
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(group) == self.process.pid and state != "Z":
                return True
        return False

    def kill(self) -> None:
        """`kill -9` of the supervisor and its workers at once (the whole process group)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        # Until every worker is gone, one may still hold the port or the file.
        deadline = time.monotonic() + 10
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)


# The `make_server` fixture: a server (not started) on a fresh database in a folder.
MakeServer = Callable[[Path, Mapping[str, str]], LiveServer]


def _raised(traceback: str) -> str:
    """The last `SomeError: message` line of a traceback (else its last line)."""
    lines = traceback.splitlines()
    errors = [line for line in lines if re.match(r"[\w.]+Error: ", line)]
    return (errors or lines)[-1]


def rss_mb(pid: int) -> float:
    """A process's resident set (VmRSS) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def open_paredao(url: str) -> tuple[int, list[int]]:
    """A paredão of two housemates, without captcha, opened now (the server's clock)."""
    paredao = make_paredao(url, require_captcha=False)
    return paredao["id"], [n["candidate_id"] for n in paredao["nominees"]]


class VoteBurst:
    """Votos da torcida, each from a voter of its own with a vote_id fixed by the client,
    remembering every answer: which got a 202 (acknowledged), which a 503 (shed), which no
    answer at all (the connection failed: their fate is unknown), and how long each took.

    `tests/pipeline/drills.VoteLoad` counts answers only; a drill also needs the shed
    votes' ids, the latencies and the failures without an answer."""

    def __init__(self, paredao_id: int, nominee_ids: list[int]) -> None:
        self.paredao_id = paredao_id
        self.nominee_ids = nominee_ids
        self.sent: set[uuid.UUID] = set()
        self.acked: set[uuid.UUID] = set()
        self.shed: set[uuid.UUID] = set()
        self.unanswered: set[uuid.UUID] = set()
        self.answers: Counter[str] = Counter()  # status code, or the client's exception
        self.samples: dict[str, str] = {}  # one answer of each kind, to show
        self.faults: list[str] = []  # 503s without Retry-After or the error shape
        self.latencies_s: list[float] = []

    def body(self, vote_id: uuid.UUID) -> dict[str, Any]:
        return {
            "nominee_id": self.nominee_ids[vote_id.int % len(self.nominee_ids)],
            "mode": "torcida",
            "voter_id": f"drill-{vote_id.hex}",
            "vote_id": str(vote_id),
        }

    async def cast(self, client: httpx.AsyncClient, vote_id: uuid.UUID) -> int | None:
        """Send one vote (or send it again); its status code, or None without an answer."""
        self.sent.add(vote_id)
        started = time.monotonic()
        try:
            r = await client.post(f"/paredoes/{self.paredao_id}/votes", json=self.body(vote_id))
        except httpx.TransportError as exc:
            self._unanswered(vote_id, exc)
            return None
        self._answered(vote_id, started, r.status_code, r.headers.get("retry-after"), r.text)
        return r.status_code

    def _unanswered(self, vote_id: uuid.UUID, exc: Exception) -> None:
        self.answers[type(exc).__name__] += 1
        self.samples.setdefault(type(exc).__name__, repr(exc)[:300])
        if vote_id not in self.acked:
            self.unanswered.add(vote_id)

    def _answered(
        self, vote_id: uuid.UUID, started: float, status: int, retry_after: str | None, text: str
    ) -> None:
        self.latencies_s.append(time.monotonic() - started)
        self.answers[str(status)] += 1
        self.samples.setdefault(str(status), text[:300])
        self.unanswered.discard(vote_id)
        if status == 202:
            self.acked.add(vote_id)
            self.shed.discard(vote_id)
        elif status == 503:
            self.shed.add(vote_id)
            if retry_after is None:
                self.faults.append(f"503 without Retry-After: {text[:200]}")
            try:
                shape = set(json.loads(text))
            except ValueError:
                shape = set()
            if shape != {"error", "detail"}:
                self.faults.append(f"503 not in the error shape: {text[:200]}")

    async def run(
        self,
        client: httpx.AsyncClient,
        concurrency: int,
        *,
        count: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """`concurrency` votes in flight until `count` were sent or `stop` is set."""
        left = count

        async def caster() -> None:
            nonlocal left
            while (stop is None or not stop.is_set()) and (left is None or left > 0):
                if left is not None:
                    left -= 1
                await self.cast(client, uuid.uuid4())

        await asyncio.gather(*(caster() for _ in range(concurrency)))

    async def flood(self, url: str, connections: int, stop: asyncio.Event) -> None:
        """`connections` connections, each voting without pause until `stop`.

        Plain HTTP/1.1 on asyncio streams: httpx costs its client ~5 ms of CPU a request at
        a thousand connections (a pool per connection, a failed `import sniffio` per lock),
        and a client that slow would measure itself, not the server."""
        target = httpx.URL(url)
        host, port = target.host, target.port or 80
        path = f"/paredoes/{self.paredao_id}/votes"

        async def voter() -> None:
            connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
            while not stop.is_set():
                vote_id = uuid.uuid4()
                payload = json.dumps(self.body(vote_id)).encode()
                request = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                ).encode() + payload
                self.sent.add(vote_id)
                started = time.monotonic()
                try:
                    async with asyncio.timeout(30):
                        if connection is None:
                            connection = await asyncio.open_connection(host, port)
                        reader, writer = connection
                        writer.write(request)
                        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                        status_line, *lines = head.rstrip("\r\n").split("\r\n")
                        headers = dict(line.lower().split(": ", 1) for line in lines)
                        body = await reader.readexactly(int(headers.get("content-length", 0)))
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    self._unanswered(vote_id, exc)
                    if connection is not None:
                        connection[1].close()
                    connection = None
                    continue
                status = int(status_line.split()[1])
                self._answered(vote_id, started, status, headers.get("retry-after"), body.decode())
                if headers.get("connection") == "close":
                    writer.close()
                    connection = None
            if connection is not None:
                connection[1].close()

        await asyncio.gather(*(voter() for _ in range(connections)))

    async def until_acked(self, count: int, timeout_s: float = 30) -> None:
        """Wait until `count` votes in all have been acknowledged."""
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} votes not acknowledged in time: {self.answers}")
            await asyncio.sleep(0.01)

    async def again(self, client: httpx.AsyncClient, vote_ids: set[uuid.UUID]) -> None:
        """Send these votes again with their own vote_ids, as a client retries."""
        await asyncio.gather(*(self.cast(client, v) for v in vote_ids))

    def p99_s(self) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


def stored_vote_rows(database: Path, paredao_id: int) -> Counter[uuid.UUID]:
    """How many rows of the raw `votes` table each vote_id has, read from the SQLite file."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        rows = connection.execute(
            "SELECT vote_id FROM votes WHERE paredao_id = ?", (paredao_id,)
        ).fetchall()
    finally:
        connection.close()
    return Counter(uuid.UUID(hex=str(vote_id)) for (vote_id,) in rows)


def assert_stored_once(database: Path, burst: VoteBurst) -> Counter[uuid.UUID]:
    """Every acknowledged vote is stored exactly once, and nothing that was never sent."""
    assert burst.acked, f"no vote was acknowledged: {burst.answers} {burst.samples}"
    stored = stored_vote_rows(database, burst.paredao_id)
    doubled = [v for v, n in stored.items() if n > 1]
    assert not doubled, f"{len(doubled)} votes stored twice, e.g. {doubled[:3]}"
    missing = burst.acked - set(stored)
    assert not missing, f"{len(missing)} acknowledged votes were lost, e.g. {sorted(missing)[:3]}"
    unknown = set(stored) - burst.sent
    assert not unknown, f"{len(unknown)} votes stored that were never sent"
    return stored


async def assert_tally_matches_recount(url: str, paredao_id: int, stored: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.post(f"/paredoes/{paredao_id}/recount", headers=ADMIN)
    assert r.status_code == 200, r.text
    recount = r.json()
    assert recount["matches"], recount["differences"][:5]
    assert recount["tally_total"] == recount["recount_total"] == stored, recount
