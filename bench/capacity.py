"""Capacity plan, measured: what each tier of the Kafka path spends per vote, and what a
BBB night (25,000 votes/s at the peak, 60,000 with the later seasons) needs of each.

Runs the Kafka stack as plain processes (N API workers with PAREDAO_INGEST=kafka, the broker,
one `python main.py consumer`, PostgreSQL) under a steady wrk load (bench/vote.lua) for
--duration seconds, a fresh database `paredao_capacity` and a fresh topic of its own on the
running broker and PostgreSQL (started with deploy/kafka and deploy/postgres only if nothing
answers on their ports; never stopped or restarted). Meanwhile a real Prometheus scrapes
every process with deploy/grafana/prometheus.yml (a copy with this run's ports) and, after
the load, is asked every expression of deploy/grafana/paredao.json.

Measured per tier, from the start of the load until the consumer has stored the whole log:
- CPU: utime+stime of every process of the tier (the process tree from its root: uvicorn and
  its workers; the broker's JVM; the consumer), children that exited included
  (cutime+cstime), from /proc/<pid>/stat; for PostgreSQL, the backends of this run's
  database and the server's checkpointer, background writer and WAL writer (the server is
  shared: other databases' backends are not counted); the broker is shared too, so its idle
  CPU (the quieter of 5 s before and 5 s after the load) is taken off;
- bytes: the topic's log segments (the broker's log.dirs), PostgreSQL's WAL
  (pg_current_wal_lsn() difference) and its tables and indexes (pg_total_relation_size).
Only the votes stored count (the recount once the lag is 0), checked against the 202s.

The consumer's CPU per vote comes from bench/drain-result.json when `make bench-drain` wrote
one (its drain measures the consumer at full speed, not waiting for HTTP); else from this run.

    .venv/bin/python -m bench.capacity [--duration 30] [--connections 64] [--workers 2]
"""

import argparse
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from bench.common import ROOT, Server, free_port, wrk
from bench.kafka import (
    BOOTSTRAP,
    ConsumerProcess,
    api_env,
    delete_topics,
    fresh_postgres_database,
    lag,
)
from bench.prometheus import INSTALL, Prometheus, ask_dashboard, binary
from bench.votes import open_paredao, stored_votes
from config import KafkaSettings
from db.engine import make_engine
from pipeline.kafka.producer import create_topics

DATABASE = "paredao_capacity"
POSTGRES_PORT = int(os.environ.get("PGPORT_DEV", "55432"))
DRAIN_RESULT = ROOT / "bench" / "drain-result.json"
PEAKS = (25_000, 60_000)
HEADROOM = 1.5  # provision 50 % above the measured need
# Production keeps each record on 3 brokers (replication 3, min.insync.replicas 2); this run's
# broker is one, so its bytes and CPU are multiplied by 3 for the cluster.
REPLICATION = 3
IDLE_S = 5.0
TIERS = ("api", "broker", "consumer", "postgres")
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


# --- /proc ------------------------------------------------------------------------------------


def _stats() -> dict[int, tuple[int, float]]:
    """Every process: pid -> (parent pid, CPU ms of itself and of its reaped children)."""
    out: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # fields[0] is field 3, the state
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        out[int(entry.name)] = (int(fields[1]), (utime + stime + cutime + cstime) * TICK_MS)
    return out


# PostgreSQL's own processes that work for every database: their CPU counts in full.
POSTGRES_SHARED = ("checkpointer", "background writer", "walwriter")


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def tree_cpu_ms(roots: dict[str, int], postgres: tuple[int, str]) -> dict[str, float]:
    """Per tier, the CPU ms of its root process and all its descendants; and for "postgres"
    (postmaster pid, database), the backends and autovacuum workers of that database and the
    server's checkpointer, background writer and WAL writer (not other databases' backends)."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    cpu: dict[str, float] = {}
    for tier, root in roots.items():
        if root not in stats:
            raise SystemExit(f"the {tier} process {root} is gone")
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += stats[pid][1]
            todo.extend(children.get(pid, []))
        cpu[tier] = total
    postmaster, database = postgres
    titles = [_title(pid).split() for pid in children.get(postmaster, [])]
    cpu["postgres"] = sum(
        stats[pid][1]
        for pid, words in zip(children.get(postmaster, []), titles, strict=True)
        if database in words or " ".join(words[1:]) in POSTGRES_SHARED
    )
    return cpu


def listener_pid(port: int) -> int:
    """The process listening on 127.0.0.1/0.0.0.0:`port` (through /proc/net/tcp's socket
    inode and the processes' open files; readable as root or as the process's owner)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                if os.readlink(fd.path) in inodes:
                    return int(entry.name)
        except OSError:
            continue
    raise SystemExit(f"no process of ours can be seen listening on port {port} (run as its owner)")


def kafka_log_dirs(broker: int) -> list[Path]:
    """The broker's `log.dirs`, from the properties file its command line names last (the
    last line that sets it wins, as in Java; a relative path is from the broker's folder)."""
    argv = Path(f"/proc/{broker}/cmdline").read_bytes().split(b"\0")
    cwd = Path(os.readlink(f"/proc/{broker}/cwd"))
    properties = cwd / next(a for a in reversed(argv) if a).decode()
    lines = properties.read_text().splitlines()
    found = [x.split("=", 1)[1] for x in lines if x.startswith(("log.dirs=", "log.dir="))]
    if not found:
        raise SystemExit(f"no log.dirs in {properties}")
    return [cwd / d.strip() for d in found[-1].split(",")]


def topic_bytes(log_dirs: list[Path], topic: str) -> int:
    """The bytes of the topic's log segments (its records, as they lie on disk)."""
    total = 0
    for log_dir in log_dirs:
        for partition in log_dir.glob(f"{topic}-*"):
            if partition.name.rsplit("-", 1)[0] == topic:
                total += sum(f.stat().st_size for f in partition.glob("*.log"))
    return total


# --- PostgreSQL -------------------------------------------------------------------------------


def wal_lsn(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SELECT pg_current_wal_lsn()")).scalar_one())


def wal_bytes(engine: Engine, start: str) -> int:
    with engine.connect() as connection:
        diff = connection.execute(
            text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:start AS pg_lsn))"),
            {"start": start},
        ).scalar_one()
    return int(diff)


def relation_bytes(engine: Engine) -> int:
    """Tables (partitions included), their indexes and TOAST, in the database's own schemas."""
    query = text(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'm')"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


# --- The run ----------------------------------------------------------------------------------


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_services(kafka_port: int) -> None:
    """Start the broker and PostgreSQL with the project's scripts only if nothing answers."""
    for port, script in (
        (kafka_port, "deploy/kafka/start.sh"),
        (POSTGRES_PORT, "deploy/postgres/start.sh"),
    ):
        if not port_open(port):
            subprocess.run([str(ROOT / script)], check=True, stdout=subprocess.DEVNULL)


def wait_assigned(consumer: ConsumerProcess, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while "assigned [(" not in consumer.log_path.read_text(errors="replace"):
        if consumer.process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(
                f"the consumer got no partitions:\n{consumer.log_path.read_text()[-2000:]}"
            )
        time.sleep(0.2)


def wait_drained(engine: Engine, kafka: KafkaSettings, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while lag(engine, kafka):
        if time.monotonic() > deadline:
            raise SystemExit(f"the consumer still lags {lag(engine, kafka)} after {timeout_s} s")
        time.sleep(0.1)


def broker_idle_ms_per_s(roots: dict[str, int], postgres: tuple[int, str]) -> float:
    """The shared broker's CPU for other topics and groups: ms per s over IDLE_S of no load."""
    before = tree_cpu_ms(roots, postgres)["broker"]
    time.sleep(IDLE_S)
    return (tree_cpu_ms(roots, postgres)["broker"] - before) / IDLE_S


@dataclass
class Measured:
    votes: int
    seconds: float  # from the load's start until the lag was 0
    cpu_ms: dict[str, float]  # per tier, the broker's idle CPU taken off
    broker_idle_ms_per_s: float
    kafka_bytes: int
    wal_bytes: int
    table_bytes: int

    def per_1000(self, tier: str) -> float:
        return self.cpu_ms[tier] / self.votes * 1000


def drain_result(path: Path) -> dict[str, float] | None:
    """`make bench-drain`'s figures for one consumer, if it wrote them and its run was exact."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if not data.get("exact", False):
        print(f"{path}: its drain was not exact; not used")
        return None
    fields = ("votes_per_s", "consumer_cpu_ms_per_1000", "postgres_cpu_ms_per_1000", "records")
    print(f"{path}: {', '.join(f'{k} {data[k]}' for k in fields)}, measured {data['measured_at']}")
    return {k: float(data[k]) for k in fields}


def cores(cpu_ms_per_1000: float, rate: int) -> int:
    """Cores a tier needs at `rate` votes/s with the headroom: CPU-seconds per second × 1.5."""
    return math.ceil(cpu_ms_per_1000 * rate / 1000 / 1000 * HEADROOM)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=30, help="seconds of steady load (≥ 30)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--drain-result",
        type=Path,
        default=DRAIN_RESULT,
        help="the consumer's and PostgreSQL's CPU per vote from make bench-drain",
    )
    args = parser.parse_args()
    if args.duration < 30:
        parser.error("--duration must be at least 30 s (a steady load, not a burst)")

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    kafka_port = int(BOOTSTRAP.rsplit(":", 1)[1])
    ensure_services(kafka_port)
    workdir = Path(tempfile.mkdtemp(prefix="paredao-capacity-"))
    database_url = fresh_postgres_database(DATABASE)
    name = f"capacity-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(
        bootstrap=BOOTSTRAP,
        topic=f"{name}.votes",
        partitions=args.partitions,
        group_id=f"{name}-consumers",
    )
    create_topics(kafka)
    broker, postgres = listener_pid(kafka_port), listener_pid(POSTGRES_PORT)
    log_dirs = kafka_log_dirs(broker)
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()},"
        f" load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{args.workers} API workers (PAREDAO_INGEST=kafka), wrk c={args.connections} for"
        f" {args.duration} s; database {DATABASE}; topic {kafka.topic} ({kafka.partitions}"
        f" partitions) on {BOOTSTRAP} (broker pid {broker}, log in"
        f" {', '.join(map(str, log_dirs))}); PostgreSQL pid {postgres} on {POSTGRES_PORT}",
        flush=True,
    )

    engine = make_engine(database_url, pool_size=1)
    metrics_dir = workdir / "api-metrics"
    metrics_dir.mkdir()
    consumer_metrics_port = free_port()
    env = {**api_env(database_url, kafka), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    consumer: ConsumerProcess | None = None
    prometheus: Prometheus | None = None
    try:
        with Server("--factory main:create_app", args.workers, env) as api:
            consumer = ConsumerProcess(
                database_url,
                kafka,
                workdir,
                extra_env={"PAREDAO_CONSUMER_METRICS_PORT": str(consumer_metrics_port)},
            )
            wait_assigned(consumer)
            if binary() is None:
                print(f"prometheus: not installed ({INSTALL}); the dashboard is not checked")
            else:
                prometheus = Prometheus(
                    workdir / "prometheus",
                    {
                        "paredao-api": [f"127.0.0.1:{api.port}"],
                        "paredao-consumer": [f"127.0.0.1:{consumer_metrics_port}"],
                    },
                )
                prometheus.wait_scraped(2)
            pid, nominees = open_paredao(api.url)
            roots = {"api": api.process.pid, "broker": broker, "consumer": consumer.process.pid}
            pg = (postgres, DATABASE)
            idle_before = broker_idle_ms_per_s(roots, pg)
            start_cpu, start_bytes = tree_cpu_ms(roots, pg), topic_bytes(log_dirs, kafka.topic)
            start_wal, start_tables = wal_lsn(engine), relation_bytes(engine)
            started = time.monotonic()
            lua_env = {"PAREDAO_ID": str(pid), "NOMINEES": ",".join(map(str, nominees))}
            r = wrk(api.url, "vote.lua", args.connections, args.duration, lua_env)
            wait_drained(engine, kafka)
            seconds = time.monotonic() - started
            end_cpu = tree_cpu_ms(roots, pg)
            kafka_bytes = topic_bytes(log_dirs, kafka.topic) - start_bytes
            wal = wal_bytes(engine, start_wal)
            tables = relation_bytes(engine) - start_tables
            idle_after = broker_idle_ms_per_s(roots, pg)

            stored = stored_votes(api.url, pid)
            acked, sent = int(r["accepted"]), int(r["sent"])
            # wrk stops with at most one vote in flight per connection: those may be stored
            # without their 202 read, so stored = acknowledged + (0 to c), never fewer.
            in_flight = stored - acked
            counts_ok = acked <= stored <= sent and in_flight <= args.connections
            counts_ok &= r["other"] == 0
            print(
                f"steady load: {sent} votes sent, {acked} acknowledged (202) in"
                f" {r['duration_s']:.1f} s ({acked / r['duration_s']:,.0f}/s), p99"
                f" {r['p99_ms']:.1f} ms, {r['other']:.0f} other answers; {stored} stored"
                f" (lag 0 after {seconds:.1f} s): stored - acknowledged = {in_flight}, the votes"
                f" in flight at wrk's cut-off (0 to c={args.connections}) -> "
                + ("OK" if counts_ok else "LOST OR EXTRA VOTES"),
                flush=True,
            )
            if prometheus is not None:
                answers = ask_dashboard(prometheus)
                empty = [q for q, values in answers if not values]
                print(
                    f"dashboard on a real Prometheus: {len(answers) - len(empty)} of"
                    f" {len(answers)} expressions return data"
                )
                for q in empty:
                    print(f"  no data: {q.panel}: {q.expr}")
                if empty:
                    print(
                        "  (this load only votes, all valid, on the Kafka path: no refusals, no"
                        " results reads, no direct-path writer; tests/deploy/"
                        "test_prometheus_dashboard.py gives every panel data)"
                    )
    finally:
        if prometheus is not None:
            prometheus.stop()
        stats = consumer.stop() if consumer is not None else "not started"
        print(f"consumer: {stats}")
        engine.dispose()
        delete_topics(kafka)
    if not counts_ok or stored == 0:
        raise SystemExit("the count check failed: no capacity figures from this run")

    # The broker's CPU for other topics and groups: the quieter of the two idle spells.
    idle = min(idle_before, idle_after)
    cpu = {t: end_cpu[t] - start_cpu[t] for t in TIERS}
    cpu["broker"] -= idle * seconds
    run = Measured(stored, seconds, cpu, idle, kafka_bytes, wal, tables)
    report(run, drain_result(args.drain_result))


def report(run: Measured, drain: dict[str, float] | None) -> None:
    per_1000 = {t: run.per_1000(t) for t in TIERS}
    steady_consumer = per_1000["consumer"]
    print()
    print(
        f"measured over {run.votes:,} stored votes in {run.seconds:.1f} s"
        f" (the broker's idle CPU taken off: {run.broker_idle_ms_per_s:.0f} ms/s):"
    )
    bytes_per_vote = {
        "api": 0.0,
        "broker": run.kafka_bytes / run.votes,
        "consumer": 0.0,
        "postgres": (run.wal_bytes + run.table_bytes) / run.votes,
    }
    print(f"{'tier':<10} {'CPU-ms/1000 votes':>18} {'bytes/vote':>11}  what is written")
    written = {
        "api": "nothing (the broker holds the vote)",
        "broker": "topic log segments, 1 replica",
        "consumer": "nothing (PostgreSQL holds the vote)",
        "postgres": f"WAL {run.wal_bytes / run.votes:.0f} + tables and indexes"
        f" {run.table_bytes / run.votes:.0f}",
    }
    for tier in TIERS:
        print(f"{tier:<10} {per_1000[tier]:>18.1f} {bytes_per_vote[tier]:>11.0f}  {written[tier]}")

    if drain is not None:
        per_1000["consumer"] = drain["consumer_cpu_ms_per_1000"]
        per_1000["postgres"] = max(per_1000["postgres"], drain["postgres_cpu_ms_per_1000"])
        print(
            f"consumer and PostgreSQL from make bench-drain ({drain['records']:,.0f} records,"
            f" {drain['votes_per_s']:,.0f} votes/s): consumer"
            f" {drain['consumer_cpu_ms_per_1000']:.1f} CPU-ms/1000"
            f" (this run: {steady_consumer:.1f}), PostgreSQL"
            f" {drain['postgres_cpu_ms_per_1000']:.1f} (the larger of it and this run's is used)"
        )
        consumer_rate = drain["votes_per_s"]
    else:
        print(
            "no exact bench/drain-result.json (make bench-drain): the consumer's CPU is its own"
            " during this steady run, a consumer waiting for HTTP rather than draining"
        )
        consumer_rate = 1000 * 1000 / steady_consumer  # votes/s one busy core stores
    broker_cluster = per_1000["broker"] * REPLICATION
    print(
        f"broker for the cluster: × {REPLICATION} replicas = {broker_cluster:.1f} CPU-ms/1000"
        f" and {bytes_per_vote['broker'] * REPLICATION:.0f} bytes/vote"
    )

    print()
    print(f"needs with {HEADROOM - 1:.0%} headroom (cores = CPU-s per s × {HEADROOM}, rounded up):")
    header = f"{'votes/s':>8} {'api':>5} {'broker':>7} {'consumer':>9} {'postgres':>9} {'cores':>6}"
    print(f"{header}  {'Kafka disk':>17}  {'PostgreSQL disk':>17}  consumers")
    print(f"{'':>44}{'(MB/s with headroom, GB per hour at the rate)':>46}")
    lines = {}
    for rate in PEAKS:
        need = {
            "api": cores(per_1000["api"], rate),
            "broker": cores(broker_cluster, rate),
            "consumer": cores(per_1000["consumer"], rate),
            "postgres": cores(per_1000["postgres"], rate),
        }
        total = sum(need.values())
        kafka_mb_s = bytes_per_vote["broker"] * REPLICATION * rate * HEADROOM / 1e6
        pg_mb_s = bytes_per_vote["postgres"] * rate * HEADROOM / 1e6
        consumers = math.ceil(rate * HEADROOM / consumer_rate)
        print(
            f"{rate:>8} {need['api']:>5} {need['broker']:>7} {need['consumer']:>9}"
            f" {need['postgres']:>9} {total:>6}"
            f"  {kafka_mb_s:>5.1f} MB/s {kafka_mb_s * 3.6 / HEADROOM:>5.0f} GB/h"
            f"  {pg_mb_s:>5.1f} MB/s {pg_mb_s * 3.6 / HEADROOM:>5.0f} GB/h  {consumers:>9}"
        )
        lines[rate] = (
            f"capacity: {rate} votes/s needs {total} cores (api {need['api']}, broker"
            f" {need['broker']}, consumer {need['consumer']}, postgres {need['postgres']})"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine counts)")
    print(lines[60_000])
    print(lines[25_000])


if __name__ == "__main__":
    main()
