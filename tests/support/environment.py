"""The environment a process the tests start runs with."""

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]


def clean_environment() -> dict[str, str]:
    """The test process's environment without anything that configures Paredão (the
    developer's settings) or shifts the clock (a server keeps the real one), with the
    repository on PYTHONPATH (the process runs from a folder of its own, with no `.env`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAREDAO_", "KAFKA", "FAKETIME", "PROMETHEUS_"))
        and k not in ("DATABASE_URL", "LD_PRELOAD")
    }
    env["PYTHONPATH"] = str(ROOT)
    return env


def main_process(
    command: str, folder: Path, env: Mapping[str, str], log: IO[bytes], **popen: Any
) -> subprocess.Popen[bytes]:
    """`python main.py <command>` as an operator starts it, run from `folder` with `env`
    alone, its output and errors written to `log`."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), command],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        **popen,
    )


def unavailable(reason: str) -> NoReturn:
    """A part the test needs (a broker, PostgreSQL, NGINX, a browser) is missing: skip on a
    developer's machine, saying why; fail in CI (CI=true), where every part is installed."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: these tests must run)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)
