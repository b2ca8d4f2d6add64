"""The deploy scripts as an operator runs them: a part (NGINX, the whole stack) started by its
folder's start script and stopped by its stop script, from a run directory of its own."""

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.environment import ROOT


def run_script(
    script: Path, env: Mapping[str, str], timeout_s: float
) -> "subprocess.CompletedProcess[str]":
    """Run `script` from the repository with `env`, its output captured; the caller checks
    its exit."""
    return subprocess.run(
        [str(script)],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def logs(run_dir: Path) -> str:
    """The end of every log a part wrote in `run_dir/logs`, for a failure's message."""
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
        for log in sorted((run_dir / "logs").glob("*.log"))
    )


@contextmanager
def started(
    start: Path, stop: Path, env: Mapping[str, str], run_dir: Path, timeout_s: float
) -> Iterator[None]:
    """Run `start`; after the block, whatever happened in it, run `stop` and remove `run_dir`.
    Each script must exit 0: a failure says what it printed and what the part logged."""
    up = run_script(start, env, timeout_s)
    try:
        assert up.returncode == 0, (
            f"{start.relative_to(ROOT)} failed:\n{up.stderr}\n{logs(run_dir)}"
        )
        yield
    finally:
        down = run_script(stop, env, timeout_s)
        logged = logs(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        assert down.returncode == 0, f"{stop.relative_to(ROOT)} failed:\n{down.stderr}\n{logged}"
