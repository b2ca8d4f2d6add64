"""The environment a process the tests start runs with."""

import os
from pathlib import Path

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
