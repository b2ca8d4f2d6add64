"""Kafka path benchmark: what the API acknowledges, what the consumer drains into PostgreSQL,
how long a vote takes from its 202 to `counted`, and the count check; with the direct path
on SQLite and on PostgreSQL measured in the same run for the ratios.

Starts the broker and PostgreSQL with the project's scripts (left running), a fresh
PostgreSQL database `paredao_bench` and a fresh votes topic, then:

1. direct SQLite and direct PostgreSQL: 2 workers, wrk at c=64 (as `bench.votes`);
2. Kafka mode: 2 workers producing, no consumer running: wrk at c=64 -> acknowledged votes/s;
3. one `python main.py consumer` drains what that run logged -> votes/s into PostgreSQL;
4. with the consumer running: a few hundred votes, each polled from its 202 to `counted`;
5. an exact run (a fixed number of votes, every one answered): stored = acknowledged.

    .venv/bin/python -m bench.kafka [--duration 10] [--connections 64] [--samples 300]
"""

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import IO

from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, make_url, text

from bench.common import ADMIN_TOKEN, ROOT, SECRET_KEY, Server, machine, terminate, wrk
from bench.kafka_runs import Run, direct_run, end_to_end, percentile, timed_run, vote_env
from bench.votes import open_paredao, stored_votes
from config import KafkaSettings
from db.consumer import read_offsets
from db.engine import make_engine
from db.migrate import upgrade_to_head
from pipeline.kafka.producer import consumer_lag, create_topics

POSTGRES_ADMIN_URL = "postgresql+psycopg://paredao:paredao@127.0.0.1:55432/postgres"
BENCH_DATABASES = ("paredao_bench", "paredao_bench_kafka")  # direct path, Kafka path
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")

TARGET_KAFKA_VS_SQLITE = 0.8
TARGET_DRAIN = 50_000
TARGET_POSTGRES_VS_SQLITE = 0.5
TARGET_E2E_P99_MS = 250


def run_parser(doc: str | None, duration_s: int, duration_help: str) -> argparse.ArgumentParser:
    """The arguments of a run of the Kafka stack under wrk: its length, the load's
    connections, the API workers and the topic's partitions."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=duration_s, help=duration_help)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=6)
    return parser


def fresh_topic(prefix: str, partitions: int) -> KafkaSettings:
    """A votes topic of this run's own (and its consumer group), created on the broker."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(
        bootstrap=BOOTSTRAP,
        topic=f"{name}.votes",
        partitions=partitions,
        group_id=f"{name}-consumers",
    )
    create_topics(kafka)
    return kafka


def start_services() -> None:
    for script in ("deploy/kafka/start.sh", "deploy/postgres/start.sh"):
        subprocess.run([str(ROOT / script)], check=True, stdout=subprocess.DEVNULL)


def fresh_postgres_database(name: str) -> str:
    """The PostgreSQL database `name`, created empty and migrated to head; its URL."""
    admin = make_engine(POSTGRES_ADMIN_URL, pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    upgrade_to_head(rendered)
    return rendered


def api_env(database_url: str, kafka: KafkaSettings | None = None) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
        "PAREDAO_INGEST": "direct",
    }
    if kafka is not None:
        env.update(
            PAREDAO_INGEST="kafka",
            KAFKA_BOOTSTRAP=kafka.bootstrap,
            PAREDAO_KAFKA_TOPIC=kafka.topic,
            PAREDAO_KAFKA_GROUP=kafka.group_id,
            PAREDAO_KAFKA_PARTITIONS=str(kafka.partitions),
        )
    return env


class ConsumerProcess:
    """`python main.py consumer`, configured by its environment alone (run in an empty
    folder, so no `.env` is read)."""

    def __init__(
        self,
        database_url: str,
        kafka: KafkaSettings,
        workdir: Path,
        batch_max: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAREDAO_", "KAFKA_"))}
        env.update(api_env(database_url, kafka), **(extra_env or {}))
        if batch_max is not None:
            env["PAREDAO_CONSUMER_BATCH_MAX"] = str(batch_max)
        env["PYTHONPATH"] = str(ROOT)
        self.log_path = workdir / "consumer.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "consumer"],
            cwd=workdir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def assigned_at(self) -> float:
        """When the group first gave it partitions (wall clock, from its log line: JSON, or
        logging's plain `asctime` format)."""
        log = self.log_path.read_text(errors="replace")
        line = next((x for x in log.splitlines() if "assigned [(" in x), None)
        if line is None:
            raise SystemExit(f"the consumer logged no assignment:\n{log[-2000:]}")
        if line.startswith("{"):
            return datetime.fromisoformat(json.loads(line)["time"]).timestamp()
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()

    def stop(self) -> str:
        """SIGTERM; the stats line it prints on the way out."""
        terminate(self.process)
        self._log.close()
        stats = re.search(r"Stopped: (.*)", self.log_path.read_text(errors="replace"))
        return stats.group(1) if stats else f"no stats (exit {self.process.returncode})"


def stored_offsets(engine: Engine, kafka: KafkaSettings) -> int:
    with engine.connect() as connection:
        return sum(read_offsets(connection, kafka.topic).values())


def lag(engine: Engine, kafka: KafkaSettings) -> int:
    return sum(end - stored for _, stored, end in consumer_lag(engine, kafka))


def drain(engine: Engine, kafka: KafkaSettings, consumer: ConsumerProcess) -> tuple[int, float]:
    """Poll the offsets stored with the votes until the consumer has stored the whole log:
    (records, seconds from the moment the group gave it its partitions to the last commit)."""
    spawned = time.monotonic()
    total = sum(end for _, _, end in consumer_lag(engine, kafka))
    deadline = spawned + 120
    while (done := stored_offsets(engine, kafka)) < total:
        if consumer.process.poll() is not None:
            raise SystemExit(f"the consumer exited:\n{consumer.log_path.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the consumer stored {done} of {total} records in 120 s")
        time.sleep(0.01)
    finished, took = time.time(), time.monotonic() - spawned
    assigned = consumer.assigned_at()
    print(
        f"consumer drain: {total} records, {took:.2f} s from its process start,"
        f" {finished - assigned:.2f} s from its assignment",
        flush=True,
    )
    return total, finished - assigned


def delete_topics(kafka: KafkaSettings) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, "log_level": 3})
    topics = [kafka.topic, kafka.dead_letter_topic]
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        future.result(timeout=30)


def main() -> None:
    parser = run_parser(__doc__, 10, "seconds per wrk run (≤ 20)")
    parser.add_argument("--samples", type=int, default=300, help="votes timed 202 → counted")
    parser.add_argument("--exact-votes", type=int, default=20_000, help="votes in the exact run")
    args = parser.parse_args()
    c, duration = args.connections, min(args.duration, 20)

    start_services()
    workdir = Path(tempfile.mkdtemp(prefix="paredao-bench-kafka-"))
    sqlite_url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade_to_head(sqlite_url)
    postgres_url, kafka_url = (fresh_postgres_database(name) for name in BENCH_DATABASES)
    kafka = fresh_topic("bench", args.partitions)
    print(machine())
    print(
        f"{args.workers} API workers, wrk c={c} for {duration} s per run; PostgreSQL databases"
        f" {', '.join(BENCH_DATABASES)}; topic {kafka.topic} ({kafka.partitions} partitions)"
        f" on {BOOTSTRAP}",
        flush=True,
    )

    sqlite = direct_run("direct SQLite", api_env(sqlite_url), c, duration, args.workers)
    postgres = direct_run("direct PostgreSQL", api_env(postgres_url), c, duration, args.workers)

    engine = make_engine(kafka_url, pool_size=1)
    consumer: ConsumerProcess | None = None
    try:
        with Server("--factory main:create_app", args.workers, api_env(kafka_url, kafka)) as api:
            pid, nominees = open_paredao(api.url)
            r = timed_run("Kafka API (no consumer)", api.url, pid, nominees, c, duration)

            consumer = ConsumerProcess(kafka_url, kafka, workdir)
            drained, drain_s = drain(engine, kafka, consumer)
            drain_rate = drained / drain_s
            stored = stored_votes(api.url, pid)
            kafka_run = Run.of("Kafka API", r, stored)

            # 202 → counted while the API runs at half the rate it just acknowledged: a
            # background load of delayed connections, the samples in its middle.
            half = kafka_run.rate / 2
            background = 32
            pause_ms = max(1, int(1000 * background / half - kafka_run.p50_ms))
            lua_env = vote_env(pid, nominees)
            with ThreadPoolExecutor(1) as pool:
                load = pool.submit(
                    wrk, api.url, "vote.lua", background, 20, {**lua_env, "DELAY_MS": str(pause_ms)}
                )
                time.sleep(2)
                latencies = asyncio.run(end_to_end(api.url, pid, nominees, args.samples))
                half_run = load.result()
            e2e_p50, e2e_p99 = percentile(latencies, 50), percentile(latencies, 99)
            print(
                f"202 → counted, {len(latencies)} votes, beside a load of"
                f" {half_run['accepted'] / half_run['duration_s']:.0f} votes/s (half the top is"
                f" {half:.0f}): p50 {e2e_p50:.1f}, p99 {e2e_p99:.1f} ms",
                flush=True,
            )

            # Exact run: each wrk thread sends a fixed number of votes, then only GETs, so
            # every vote is answered; once the lag is 0, stored must equal acknowledged.
            # A quarter of what the timed run managed, at most, so that every vote is answered
            # before wrk stops even with the consumer (and PostgreSQL) now taking CPU too.
            votes = min(args.exact_votes, int(kafka_run.rate * duration / 4))
            deadline = time.monotonic() + 60
            while lag(engine, kafka) and time.monotonic() < deadline:
                time.sleep(0.1)
            before = stored_votes(api.url, pid)
            budget = {"VOTE_BUDGET": str(votes // 2)}
            exact = wrk(api.url, "vote.lua", c, duration, {**lua_env, **budget})
            deadline = time.monotonic() + 60
            while lag(engine, kafka) and time.monotonic() < deadline:
                time.sleep(0.1)
            after = stored_votes(api.url, pid)
            # Every vote answered: wrk's `sent` may count one more than it really sent.
            answered = exact["sent"] - exact["accepted"] <= 1
            exact_ok = after - before == exact["accepted"] and exact["other"] == 0 and answered
            print(
                f"exact run: {exact['sent']:.0f} votes sent, {exact['accepted']:.0f}"
                f" acknowledged (202), {after - before} stored"
                f" -> {'EXACT' if exact_ok else 'MISMATCH'}",
                flush=True,
            )
    finally:
        stats = consumer.stop() if consumer is not None else "not started"
        engine.dispose()
        print(f"consumer: {stats}")
        delete_topics(kafka)

    print()
    print(
        f"{'what':<20} {'votes/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'acked':>8} {'stored':>8}  check"
    )
    for run in (sqlite, postgres, kafka_run):
        print(
            f"{run.label:<20} {run.rate:>9.0f} {run.p50_ms:>8.2f} {run.p99_ms:>8.2f}"
            f" {run.acked:>8} {run.stored:>8}  {'OK' if run.counts_ok else 'LOST OR EXTRA'}"
        )
    print(f"{'consumer drain':<20} {drain_rate:>9.0f}")
    print(f"{'202 → counted':<20} {'':>9} {e2e_p50:>8.1f} {e2e_p99:>8.1f}")
    print()
    targets = [
        ("Kafka API / direct SQLite", kafka_run.rate / sqlite.rate, TARGET_KAFKA_VS_SQLITE, "×"),
        ("consumer drain votes/s", drain_rate, TARGET_DRAIN, ""),
        (
            "direct PostgreSQL / direct SQLite",
            postgres.rate / sqlite.rate,
            TARGET_POSTGRES_VS_SQLITE,
            "×",
        ),
    ]
    verdict = "met" if e2e_p99 <= TARGET_E2E_P99_MS else "MISSED"
    print(f"202 → counted p99 at half the top rate: {e2e_p99:.0f} ms (target ≤ 250) -> {verdict}")
    for label, value, target, unit in targets:
        verdict = "met" if value >= target else "MISSED"
        print(f"{label}: {value:,.2f}{unit} (target ≥ {target:,}{unit}) -> {verdict}")
    all_exact = exact_ok and all(run.counts_ok for run in (sqlite, postgres, kafka_run))
    print(f"count check (stored vs acknowledged) passed in every run: {all_exact}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine counts)")
    if not all_exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
