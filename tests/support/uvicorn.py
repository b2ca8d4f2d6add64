"""The app under uvicorn in a process of its own, as `make run` and deploy/stack/up.sh start
it (`uvicorn --factory main:create_app`): for the tests that put something real in front of
it (NGINX, a browser)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.support.environment import ROOT
from tests.support.ports import free_port


class UvicornApp:
    """`uvicorn --factory main:create_app` on a free loopback port, with `env` over the test
    process's environment and `options` added to the command line; its log at `log_path`."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [sys.executable, "-m", "uvicorn", "--factory", "main:create_app"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), *options]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
            )

    def answers(self) -> bool:
        """Whether GET /paredoes answers 200 now."""
        try:
            return httpx.get(f"{self.url}/paredoes", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Return once it answers; stopped, and an error, if it exits or never does."""
        deadline = time.monotonic() + timeout_s
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn on :{self.port} did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, as an orchestrator stops it; SIGKILL if it is not gone in 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
