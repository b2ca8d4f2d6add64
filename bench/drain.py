"""The consumer's drain, without HTTP: how fast `python main.py consumer` stores a full log.

Fills a fresh 6-partition topic with records produced straight into Kafka with the API's
own encoder and record key (`pipeline.kafka.codec`), in a show's mix:

- 80 % votos da torcida from ~200,000 voter ids, spread over two hours; a few thousand
  voters send bursts past 10 a minute (≈ 5 % of all votes refused `rate_limited`);
- 20 % votos únicos, 1 % of them repeating an earlier CPF (refused `cpf_already_voted`;
  the repeat names the same nominee, so the expected tally per nominee is exact);
- 3 nominees; every record in the order it was cast.

The expected outcome of every record is computed here with the model's own rules
(`model.ratelimit.admit`). Then one consumer process (and, reported only, 2 and 3 on the
same 6 partitions) drains the log into a fresh PostgreSQL database, timed from the group's
assignment to lag 0; the stored tally per nominee and mode, the refusals by reason and the
recount are compared with the expectation (`EXACT` or `MISMATCH`). The last line is
`consumer drain votes/s: N`. CPU time of the consumer and of PostgreSQL per 1,000 votes
(read from /proc) goes to bench/drain-result.json for `make capacity`.

    .venv/bin/python -m bench.drain [--records 1000000] [--consumers 1,2,3]
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, text

from bench.common import ROOT, Server, machine
from bench.drain_log import Expected, make_log, produce
from bench.kafka import (
    ConsumerProcess,
    api_env,
    delete_topics,
    fresh_postgres_database,
    start_services,
)
from bench.votes import ADMIN, open_paredao
from config import KafkaSettings
from db.consumer import read_offsets
from db.engine import make_engine
from pipeline.kafka.producer import create_topics

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
TARGET = 50_000
RESULT_FILE = ROOT / "bench" / "drain-result.json"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def database_backends(engine: Engine) -> list[int]:
    """The server processes of the connections to the engine's database but its own: the
    consumers' (other work on the same PostgreSQL, such as other test suites, is left out)."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        )
        return [int(pid) for (pid,) in rows]


def stored(engine: Engine, kafka: KafkaSettings) -> int:
    with engine.connect() as connection:
        return sum(read_offsets(connection, kafka.topic).values())


def counts(connection: Connection, sql: str, pid: int) -> Counter[Any]:
    """`SELECT key..., count FROM ... WHERE paredao_id = :p GROUP BY key...` as a Counter, keyed
    by the row's leading columns (one key alone, unwrapped)."""
    rows = connection.execute(text(sql), {"p": pid})
    return Counter({(key[0] if len(key) == 1 else tuple(key)): int(c) for *key, c in rows})


def check(engine: Engine, pid: int, expected: Expected) -> tuple[bool, str]:
    with engine.connect() as connection:
        counted = counts(
            connection,
            "SELECT nominee_id, mode, count(*) FROM votes WHERE paredao_id = :p"
            " GROUP BY nominee_id, mode",
            pid,
        )
        tally = counts(
            connection,
            "SELECT nominee_id, mode, sum(votes) FROM vote_tally WHERE paredao_id = :p"
            " GROUP BY nominee_id, mode",
            pid,
        )
        refused = counts(
            connection,
            "SELECT reason, count(*) FROM vote_refusals WHERE paredao_id = :p GROUP BY reason",
            pid,
        )
    ok = counted == expected.counted and tally == counted and refused == expected.refused
    detail = (
        f"stored {sum(counted.values())} (expected {sum(expected.counted.values())}),"
        f" tally {sum(tally.values())} = recount: {tally == counted},"
        f" refused {dict(refused)} (expected {dict(expected.refused)})"
    )
    return ok, detail


def drain_run(
    consumers: int,
    kafka: KafkaSettings,
    total: int,
    expected: Expected,
    workdir: Path,
    batch_max: int | None = None,
    env: dict[str, str] | None = None,
) -> tuple[float, bool, float, float]:
    """A fresh database, `consumers` processes: (votes/s, exact, consumer and PostgreSQL
    CPU-ms per 1,000 records)."""
    url = fresh_postgres_database("paredao_bench_drain")
    with Server("--factory main:create_app", 1, api_env(url)) as api:
        pid, _ = open_paredao(api.url)
        httpx.get(f"{api.url}/paredoes/{pid}", headers=ADMIN).raise_for_status()
    group = KafkaSettings(
        bootstrap=kafka.bootstrap,
        topic=kafka.topic,
        partitions=kafka.partitions,
        group_id=f"{kafka.topic}-drain-{consumers}-{uuid.uuid4().hex[:6]}",
    )
    engine = make_engine(url, pool_size=1)
    pg_before = cpu_ticks(postgres_pids())
    label = ",".join(f"{k}={v}" for k, v in (env or {}).items())
    folders = [
        workdir / f"c{consumers}-{batch_max}-{uuid.uuid4().hex[:6]}-{i}" for i in range(consumers)
    ]
    for folder in folders:
        folder.mkdir()
    processes = [ConsumerProcess(url, group, folder, batch_max, env) for folder in folders]
    try:
        deadline = time.monotonic() + 900
        while (done := stored(engine, group)) < total:
            for p in processes:
                if p.process.poll() is not None:
                    raise SystemExit(f"a consumer exited:\n{p.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{consumers} consumer(s) stored {done} of {total} in 900 s")
            time.sleep(0.02)
        finished = time.time()
        consumer_ticks = cpu_ticks([p.process.pid for p in processes])
        pg_ticks = cpu_ticks(postgres_pids()) - pg_before
        backend_ticks = cpu_ticks(database_backends(engine))
        assigned = min(p.assigned_at() for p in processes)
        seconds = finished - assigned
        ok, detail = check(engine, pid, expected)
    finally:
        stats = [p.stop() for p in processes]
        engine.dispose()
    rate = total / seconds
    per_1000 = 1000 / total * 1000 / CLK_TCK
    print(
        f"{consumers} consumer(s), batches of {batch_max or 'the default'}"
        f"{f' ({label})' if label else ''}: {total} records"
        f" in {seconds:.2f} s from assignment ->"
        f" {rate:,.0f} votes/s; {detail} -> {'EXACT' if ok else 'MISMATCH'}",
        flush=True,
    )
    print(
        f"  PostgreSQL CPU-ms per 1,000: {pg_ticks * per_1000:.1f} all processes (other work"
        f" on the server counts), {backend_ticks * per_1000:.1f} the consumers' backends"
    )
    for line in stats:
        print(f"  consumer: {line}")
    return rate, ok, consumer_ticks * per_1000, pg_ticks * per_1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--consumers", default="1,2,3", help="consumer processes per run")
    parser.add_argument(
        "--batch-max",
        default="",
        help="records per consumer batch, a comma-separated list to compare (runs alternate)",
    )
    parser.add_argument(
        "--consumer-env",
        default="",
        help="environments of the consumer to compare, `|`-separated, each `K=V,K=V`"
        " (runs alternate, on the same log)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="times each comparison is run")
    args = parser.parse_args()
    runs = [int(n) for n in args.consumers.split(",")]
    sizes: list[int | None] = [int(n) for n in args.batch_max.split(",") if n] or [None]
    envs: list[dict[str, str]] = [
        dict(pair.split("=", 1) for pair in variant.split(",") if pair)
        for variant in args.consumer_env.split("|")
    ]

    start_services()
    workdir = Path(tempfile.mkdtemp(prefix="paredao-bench-drain-"))
    name = f"drain-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap=BOOTSTRAP, topic=f"{name}.votes", partitions=args.partitions)
    create_topics(kafka)
    print(
        f"{machine()}; topic {kafka.topic} ({kafka.partitions} partitions) on {BOOTSTRAP}",
        flush=True,
    )
    # The paredão every fresh database makes first is paredão 1 with nominees 1, 2, 3; each run
    # opens its own when it starts: the votes are cast from an hour on, after every opening.
    start = datetime.now(UTC) + timedelta(hours=1)
    ballots, expected = make_log(args.records, 1, [1, 2, 3], start)
    modes = Counter(b.mode.value for b in ballots)
    print(
        f"log: {len(ballots)} records ({dict(modes)}), expected counted"
        f" {sum(expected.counted.values())}, refused {dict(expected.refused)}",
        flush=True,
    )
    took = produce(kafka, ballots)
    print(f"produced in {took:.1f} s ({len(ballots) / took:,.0f} records/s)", flush=True)
    del ballots

    results: dict[int, tuple[float, bool, float, float]] = {}
    every_check: list[bool] = []
    try:
        for consumers in runs:
            for _ in range(args.rounds):
                for size in sizes:
                    for env in envs:
                        results[consumers] = drain_run(
                            consumers, kafka, args.records, expected, workdir, size, env
                        )
                        every_check.append(results[consumers][1])
    finally:
        delete_topics(kafka)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine counts)")
    all_exact = all(every_check)
    if 1 in results:
        rate, _, consumer_ms, pg_ms = results[1]
        RESULT_FILE.write_text(
            json.dumps(
                {
                    "votes_per_s": round(rate),
                    "consumer_cpu_ms_per_1000": round(consumer_ms, 1),
                    "postgres_cpu_ms_per_1000": round(pg_ms, 1),
                    "records": args.records,
                    "exact": all_exact,
                    "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
                indent=2,
            )
            + "\n"
        )
        print(
            f"CPU per 1,000 votes: consumer {consumer_ms:.0f} ms, PostgreSQL {pg_ms:.0f} ms"
            f" (written to {RESULT_FILE.relative_to(ROOT)})"
        )
        verdict = "met" if rate >= TARGET and all_exact else "MISSED"
        print(f"target ≥ {TARGET:,} votes/s, exact: {verdict}")
    print("count check:", "EXACT" if all_exact else "MISMATCH")
    if 1 in results:
        print(f"consumer drain votes/s: {results[1][0]:.0f}")
    if not all_exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
