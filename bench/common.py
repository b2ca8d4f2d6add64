"""Starting servers and running wrk for the benchmarks (loopback only, bounded in time)."""

import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
ADMIN_TOKEN = secrets.token_urlsafe(32)
# The server refuses a secret key shorter than 32 characters.
SECRET_KEY = secrets.token_urlsafe(32)


def machine() -> str:
    """The machine a run's figures come from, and how busy it was as the run began."""
    return (
        f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()},"
        f" load average {os.getloadavg()[0]:.2f}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def terminate(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """SIGTERM (a process of ours finishes its work and exits), SIGKILL after `timeout_s`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Started:
    """A process a benchmark started: stopped by `stop`, or at the end of a `with` block."""

    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        terminate(self.process)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


SERVERS = ("uvicorn", "granian")


def server_command(server: str, app: str, port: int, workers: int) -> list[str]:
    """The command that serves APP (which may carry flags: "--factory main:create_app") with
    `server` on a loopback port: uvicorn, or granian's ASGI interface, with uvloop."""
    if server == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop",
            *app.split(), "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", *app.split(),
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def process_tree(root: int) -> list[int]:
    """`root` and every process below it (the server's workers, the vote writer they start)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in task.read_text().split())
            except OSError:  # the task ended while we read
                continue
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU time each live process has used so far, read from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone
            continue
        if fields[0] != "Z":  # a zombie's times are its parent's to collect
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings by the processes alive at the second (one that
    exited in between is left out: none does during a run)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def box_ticks() -> tuple[int, int]:
    """(idle, all) CPU ticks of the whole machine so far, from /proc/stat (idle counts the
    time waiting for the disk too)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return ticks[3] + ticks[4], sum(ticks)


def idle_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time left idle between two `box_ticks` readings."""
    return (after[0] - before[0]) / max(after[1] - before[1], 1)


class Server(Started):
    """APP served by `server` (uvicorn or granian) with N workers on a free loopback port, as
    a user would run it (`server_command`).

    `shipped`: with what `python main.py serve` adds, so that a request costs what it costs
    in production: the JSON log line of every request (`observability/logging.json`, into
    `log_path`) and the metrics of every worker counted together (Prometheus multiprocess
    files in a fresh directory). `root`: the checkout of the project whose code it serves.
    """

    def __init__(
        self,
        app: str,
        workers: int,
        env: dict[str, str] | None = None,
        server: str = "uvicorn",
        *,
        shipped: bool = False,
        log_path: Path | None = None,
        root: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = server_command(server, app, self.port, workers)
        env = {**os.environ, **(env or {})}
        log = None
        if shipped:
            command += ["--log-config", str(root / "observability" / "logging.json")]
            env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="paredao-bench-metrics-")
            log = open(log_path or os.devnull, "ab")  # noqa: SIM115 (the server's, until it ends)
        try:
            self.process = subprocess.Popen(command, cwd=root, env=env, stderr=log)
        finally:
            if log is not None:
                log.close()  # the server holds its own copy
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/", timeout=1)
                time.sleep(1.0)  # let every worker finish its start
                return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{app} did not start")

    def cpu_seconds(self) -> dict[int, float]:
        """CPU time used so far by each of the server's processes (the writer included)."""
        return cpu_seconds(process_tree(self.process.pid))


def wrk(
    url: str, script: str, connections: int, duration_s: int, env: dict[str, str]
) -> dict[str, float]:
    """Run wrk (2 threads) and parse the RESULT line our Lua scripts print."""
    threads = min(2, connections)
    env = {"RUN_ID": str(secrets.randbelow(2**40)), **env}
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--timeout", "10s",
        "-s", str(BENCH / script), url,
    ]  # fmt: skip
    out = subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=duration_s + 60,
    ).stdout
    match = re.search(r"^RESULT (.*)$", out, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{out}")
    return {k: float(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
