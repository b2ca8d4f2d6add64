"""Starting servers and running wrk for the benchmarks (loopback only, bounded in time)."""

import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
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


class Server(Started):
    """`uvicorn APP` (APP may carry flags: "--factory main:create_app") with N workers on a
    free loopback port, as a user would run it."""

    def __init__(self, app: str, workers: int, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "uvicorn", *app.split(),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(workers), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})})
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
