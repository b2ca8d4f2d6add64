"""What the Kafka fault drills share beyond tests/support: the broker's and PostgreSQL's own
start/stop scripts, waiting on the database, and the check every drill ends with (every
acknowledged vote stored exactly once, and the log replayed to the same tally)."""

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, make_url, select
from sqlmodel import col

from config import KafkaSettings
from db.engine import make_engine
from model.vote import Vote
from pipeline.kafka.producer import consumer_lag
from tests.support.api import ADMIN
from tests.support.votes import VoteLoad, assert_stored_once

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPTS = ROOT / "deploy" / "kafka"
POSTGRES_SCRIPTS = ROOT / "deploy" / "postgres"


async def eventually(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `condition` (run on a thread: it may query the database) until it is truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(condition)
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def stored_votes(engine: Engine, paredao_id: int) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(Vote).where(col(Vote.paredao_id) == paredao_id)
            ).scalar_one()
        )


def total_lag(engine: Engine, kafka: KafkaSettings) -> int:
    return sum(end - stored for _, stored, end in consumer_lag(engine, kafka))


async def assert_every_acknowledged_vote_stored_once(
    client: httpx.AsyncClient,
    database_url: str,
    kafka: KafkaSettings,
    load: VoteLoad,
) -> None:
    """The end of every drill: the consumer's lag reaches 0; every vote that got a 202 is
    stored, and nothing that was never sent; tally = recount = replay = the votes stored."""
    assert load.acked, f"no vote was acknowledged: {load.answers}"
    engine = make_engine(database_url, pool_size=1)
    try:
        await eventually(lambda: total_lag(engine, kafka) == 0, 60, "the consumer's lag at 0")
    finally:
        engine.dispose()
    stored = await assert_stored_once(client, database_url, load)
    r = await client.post(f"/paredoes/{load.paredao_id}/replay", headers=ADMIN, timeout=60)
    assert r.status_code == 200, r.text
    replay = r.json()
    assert replay["matches"], replay["differences"][:5]
    assert replay["replay_total"] == len(stored)


def run_script(
    script: Path, timeout_s: float = 120, extra_env: Mapping[str, str] | None = None
) -> float:
    """Run one of the project's deploy scripts, with the environment and `extra_env`; how
    long it took (it fails loudly). The server it starts keeps the real clock even when the
    tests run under faketime."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKETIME")}
    env.update(extra_env or {})
    if "faketime" in env.get("LD_PRELOAD", ""):
        del env["LD_PRELOAD"]
    started = time.monotonic()
    done = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return time.monotonic() - started


def postgres_scripts_env(database_url: str) -> dict[str, str]:
    """The environment under which deploy/postgres's scripts stop and start the server of
    the test database, and no other: its port (PGPORT_DEV, so start.sh brings it back there);
    the data directory comes from PGDATA_DIR (or the scripts' default), and must be the
    running cluster on that port, or the drill fails before stopping anything."""
    port = str(make_url(database_url).port or 5432)
    env = {"PGPORT_DEV": port}
    bash = shutil.which("bash")
    assert bash is not None, "the deploy scripts need bash"
    data_dir = subprocess.run(
        [bash, "-c", f'source "{POSTGRES_SCRIPTS}/common.sh" && echo "$data_dir"'],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pid_file = Path(data_dir) / "postmaster.pid"
    lines = pid_file.read_text().splitlines() if pid_file.exists() else []
    serving = lines[3].strip() if len(lines) > 3 else "none"
    assert serving == port, (
        f"deploy/postgres would stop the cluster in {data_dir} (running on port {serving}), "
        f"not the test database's server on port {port}: set PGDATA_DIR to its data directory"
    )
    return env
