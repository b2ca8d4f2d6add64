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

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine

from bench.capacity_plan import TIERS, Measured, drain_result, report
from bench.common import ROOT, Server, free_port, machine, wrk
from bench.kafka import (
    BOOTSTRAP,
    ConsumerProcess,
    api_env,
    delete_topics,
    fresh_postgres_database,
    fresh_topic,
    lag,
    run_parser,
)
from bench.prometheus import INSTALL, Prometheus, ask_dashboard, binary
from bench.tier_usage import (
    broker_idle_ms_per_s,
    kafka_log_dirs,
    listener_pid,
    relation_bytes,
    topic_bytes,
    tree_cpu_ms,
    wal_bytes,
    wal_lsn,
)
from bench.votes import open_paredao, stored_votes
from config import KafkaSettings
from db.engine import make_engine

DATABASE = "paredao_capacity"
POSTGRES_PORT = int(os.environ.get("PGPORT_DEV", "55432"))
DRAIN_RESULT = ROOT / "bench" / "drain-result.json"


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


def main() -> None:
    parser = run_parser(__doc__, 30, "seconds of steady load (≥ 30)")
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
    kafka = fresh_topic("capacity", args.partitions)
    broker, postgres = listener_pid(kafka_port), listener_pid(POSTGRES_PORT)
    log_dirs = kafka_log_dirs(broker)
    print(machine())
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


if __name__ == "__main__":
    main()
