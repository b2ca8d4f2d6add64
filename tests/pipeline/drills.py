"""What the Kafka fault drills share: consumer processes started as an operator starts them,
a steady load of votes through the API, the broker's and PostgreSQL's own start/stop scripts,
and the check every drill ends with (every acknowledged vote stored exactly once)."""

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import Engine, func, make_url, select, text
from sqlmodel import col

from config import KafkaSettings
from db.engine import make_engine
from model.vote import Vote
from pipeline.kafka import consumer_lag
from tests.conftest import ADMIN, ADMIN_TOKEN

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPTS = ROOT / "deploy" / "kafka"
POSTGRES_SCRIPTS = ROOT / "deploy" / "postgres"


class ConsumerProcess:
    """`python main.py consumer` in a process of its own, configured by its environment alone:
    it runs in an empty folder (no `.env` there) with the repository on PYTHONPATH."""

    def __init__(
        self, database_url: str, kafka: KafkaSettings, workdir: Path, name: str, batch_max: int
    ) -> None:
        self.name = name
        self.database_url = database_url
        if not database_url.startswith("sqlite"):  # to find its transactions in pg_stat_activity
            database_url = (
                make_url(database_url)
                .update_query_dict({"application_name": self.application_name})
                .render_as_string(hide_password=False)
            )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PAREDAO_", "KAFKA_")) and k != "DATABASE_URL"
        }
        env.update(
            DATABASE_URL=database_url,
            KAFKA_BOOTSTRAP=kafka.bootstrap,
            PAREDAO_KAFKA_TOPIC=kafka.topic,
            PAREDAO_KAFKA_GROUP=kafka.group_id,
            PAREDAO_KAFKA_TIMEOUT_S=str(kafka.produce_timeout_s),
            PAREDAO_CONSUMER_BATCH_MAX=str(batch_max),
            PAREDAO_SECRET_KEY="drill-secret-key-0123456789abcdefghij",
            PAREDAO_ADMIN_TOKEN=ADMIN_TOKEN,
            PYTHONPATH=str(ROOT),
        )
        folder = workdir / name
        folder.mkdir()
        self.log_path = folder / "consumer.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "consumer"],
            cwd=folder,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def application_name(self) -> str:
        return f"paredao-drill-{self.name}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def in_write_transaction(self) -> bool:
        """Whether this consumer is inside a batch's transaction that has written (PostgreSQL),
        or some connection holds the SQLite file's write lock (in Kafka mode only the
        consumers write votes)."""
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite":
            probe = sqlite3.connect(url.database or "", timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:  # "database is locked": a writer is mid-batch
                return True
            finally:
                probe.close()
        engine = make_engine(self.database_url, pool_size=1)
        try:
            with engine.connect() as connection:
                return bool(
                    connection.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
                            " AND backend_xid IS NOT NULL"
                        ),
                        {"name": self.application_name},
                    ).scalar_one()
                )
        finally:
            engine.dispose()

    def assignments(self) -> int:
        """How many times the group gave this member at least one partition."""
        return len(re.findall(r"assigned \[\(", self.log()))

    def wait_assigned(self, more_than: int = 0, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while self.assignments() <= more_than:
            if self.process.poll() is not None:
                raise AssertionError(f"consumer {self.name} exited:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} got no partition:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye to the group; whatever it was storing is lost."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> dict[str, int]:
        """SIGTERM, as an orchestrator stops it: it stores the batch in hand, leaves the group
        and prints its stats, which are returned."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        log = self.log()
        assert code == 0, f"consumer {self.name} exited with {code}:\n{log[-3000:]}"
        stats = re.search(r"Stopped: ConsumerStats\((.*)\)", log)
        assert stats is not None, log[-3000:]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", stats.group(1))}

    def close(self) -> None:
        """Teardown: make sure the process is gone, whatever the test did."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


class VoteLoad:
    """Votos da torcida through the API, each from a new voter with a vote_id of its own,
    remembering which were sent and which got a 202 (the acknowledged ones)."""

    def __init__(self, client: httpx.AsyncClient, paredao_id: int, nominee_ids: list[int]):
        self._client = client
        self._paredao_id = paredao_id
        self._nominee_ids = nominee_ids
        self.sent: set[uuid.UUID] = set()
        self.acked: set[uuid.UUID] = set()
        self.answers: Counter[str] = Counter()  # status code, or the exception the app raised
        self.samples: dict[str, str] = {}  # one answer (or exception) of each kind, to show
        self.without_retry_after = 0  # 503s that do not say when to come back
        self.slowest_s = 0.0

    async def _cast_one(self) -> None:
        vote_id = uuid.uuid4()
        body = {
            "nominee_id": self._nominee_ids[len(self.sent) % len(self._nominee_ids)],
            "mode": "torcida",
            "voter_id": f"drill-{vote_id.hex}",
            "vote_id": str(vote_id),
        }
        self.sent.add(vote_id)
        started = time.monotonic()
        try:
            r = await self._client.post(f"/paredoes/{self._paredao_id}/votes", json=body)
        except Exception as exc:  # the in-process app raised: no answer, so not acknowledged
            self.answers[type(exc).__name__] += 1
            self.samples.setdefault(type(exc).__name__, str(exc)[:300])
            return
        finally:
            self.slowest_s = max(self.slowest_s, time.monotonic() - started)
        self.answers[str(r.status_code)] += 1
        self.samples.setdefault(str(r.status_code), r.text[:300])
        if r.status_code == 202:
            self.acked.add(vote_id)
        elif r.status_code == 503 and "retry-after" not in r.headers:
            self.without_retry_after += 1

    async def run_until(self, stop: asyncio.Event, concurrency: int = 16) -> None:
        """Keep `concurrency` votes in flight until `stop` is set."""

        async def caster() -> None:
            while not stop.is_set():
                await self._cast_one()

        await asyncio.gather(*(caster() for _ in range(concurrency)))

    async def cast(self, count: int, concurrency: int = 16) -> None:
        left = count

        async def caster() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await self._cast_one()

        await asyncio.gather(*(caster() for _ in range(concurrency)))


class SteadyLoad:
    """A `VoteLoad` running in the background of the test's event loop."""

    def __init__(self, load: VoteLoad, concurrency: int = 16) -> None:
        self.load = load
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(load.run_until(self._stop, concurrency))

    async def finish(self) -> VoteLoad:
        self._stop.set()
        await asyncio.wait_for(self._task, 30)
        return self.load

    async def cancel(self) -> None:
        """Teardown: stop it whatever happened."""
        self._stop.set()
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


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


def stored_vote_ids(engine: Engine, paredao_id: int) -> list[uuid.UUID]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(col(Vote.vote_id)).where(col(Vote.paredao_id) == paredao_id)
            ).scalars()
        )


def total_lag(engine: Engine, kafka: KafkaSettings) -> int:
    return sum(end - stored for _, stored, end in consumer_lag(engine, kafka))


async def assert_every_acknowledged_vote_stored_once(
    client: httpx.AsyncClient,
    database_url: str,
    kafka: KafkaSettings,
    paredao_id: int,
    load: VoteLoad,
) -> None:
    """The end of every drill: the consumer's lag reaches 0; every vote that got a 202 is
    stored, exactly once, and nothing that was never sent; tally = recount = replay."""
    assert load.acked, f"no vote was acknowledged: {load.answers}"
    engine = make_engine(database_url, pool_size=1)
    try:
        await eventually(lambda: total_lag(engine, kafka) == 0, 40, "the consumer's lag at 0")
        stored = await asyncio.to_thread(stored_vote_ids, engine, paredao_id)
    finally:
        engine.dispose()
    assert len(stored) == len(set(stored)), "a vote is stored twice"
    missing = load.acked - set(stored)
    assert not missing, f"{len(missing)} acknowledged votes were lost, e.g. {sorted(missing)[:3]}"
    unknown = set(stored) - load.sent
    assert not unknown, f"{len(unknown)} votes stored that were never sent"

    r = await client.post(f"/paredoes/{paredao_id}/recount", headers=ADMIN)
    assert r.status_code == 200, r.text
    recount = r.json()
    assert recount["matches"], recount["differences"][:5]
    assert recount["tally_total"] == recount["recount_total"] == len(stored)
    r = await client.post(f"/paredoes/{paredao_id}/replay", headers=ADMIN, timeout=60)
    assert r.status_code == 200, r.text
    replay = r.json()
    assert replay["matches"], replay["differences"][:5]
    assert replay["replay_total"] == len(stored)


def run_script(script: Path, timeout_s: float = 120) -> float:
    """Run one of the project's deploy scripts; how long it took (it fails loudly). The
    server it starts keeps the real clock even when the tests run under faketime."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKETIME")}
    if "faketime" in env.get("LD_PRELOAD", ""):
        del env["LD_PRELOAD"]
    started = time.monotonic()
    done = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return time.monotonic() - started
