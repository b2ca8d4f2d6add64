"""The one way tests run the API in a process of its own: `python main.py serve`, as an
operator starts it, in a process group of its own (so a drill can kill it whole)."""

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support.api import ADMIN_TOKEN, SECRET_KEY
from tests.support.environment import clean_environment, main_process
from tests.support.ports import free_port

STARTED = "Application startup complete"
# Room for a vote on a slow, shared box: a test about the deadline sets its own, or None
# (the production default, as the overload drill does).
ROOMY_VOTE_DEADLINE_S = 30.0


class LiveServer:
    """`python main.py serve` with `workers` workers on `database_url`, run from `folder`
    (no `.env` there; its logs and metrics stay there), configured by the environment built
    here plus `extra_env`, with `vote_deadline_s` (None: the production default). `start`
    may be called again after `kill` or `stop`: same database, same port, a new log."""

    def __init__(
        self,
        database_url: str,
        folder: Path,
        extra_env: Mapping[str, str] | None = None,
        workers: int = 2,
        vote_deadline_s: float | None = ROOMY_VOTE_DEADLINE_S,
    ) -> None:
        self.database_url = database_url
        self.folder = folder
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = folder / "metrics"
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        deadline = (
            {} if vote_deadline_s is None else {"PAREDAO_VOTE_DEADLINE_S": f"{vote_deadline_s}"}
        )
        self.env = {
            **clean_environment(),
            "DATABASE_URL": database_url,
            "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
            "PAREDAO_SECRET_KEY": SECRET_KEY,
            "PAREDAO_PORT": str(self.port),
            "PAREDAO_WORKERS": str(workers),
            "PAREDAO_RESULTS_CACHE_S": "0",
            # A SIGKILL leaves no chance to remove a directory serve would make in /tmp.
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **deadline,
            **(extra_env or {}),
        }
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / f"server-{self.starts}.log"

    def log(self) -> str:
        """What the current (or last) start logged."""
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
        """Start it and return once every worker has started and /readyz answers 200."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log_path.open("wb") as log:
            # A process group of its own: killed whole by `kill`.
            self.process = main_process("serve", self.folder, self.env, log, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.log().count(STARTED) >= self.workers and self._ready():
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

    def _wait_group_gone(self) -> None:
        """Until every worker is gone, one may still hold the port or the file."""
        deadline = time.monotonic() + 10
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def kill(self) -> None:
        """`kill -9` of the supervisor and its workers at once (the whole process group)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._wait_group_gone()

    def stop(self, timeout_s: float = 30) -> int | None:
        """SIGTERM, as an orchestrator stops it (it drains, then exits); its exit code, or
        None when it was not running. Killed whole if it does not exit in `timeout_s`."""
        if self.process is None or self.process.poll() is not None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._wait_group_gone()
        return code


def _raised(traceback: str) -> str:
    """The last `SomeError: message` line of a traceback (else its last line)."""
    lines = traceback.splitlines()
    errors = [line for line in lines if re.match(r"[\w.]+Error: ", line)]
    return (errors or lines)[-1]
