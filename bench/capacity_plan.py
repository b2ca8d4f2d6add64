"""The capacity plan's arithmetic: from what one run measured per tier (and `make
bench-drain`'s consumer figures), the cores, disk rates and consumers a BBB peak needs."""

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

PEAKS = (25_000, 60_000)
HEADROOM = 1.5  # provision 50 % above the measured need
# Production keeps each record on 3 brokers (replication 3, min.insync.replicas 2); this run's
# broker is one, so its bytes and CPU are multiplied by 3 for the cluster.
REPLICATION = 3
TIERS = ("api", "broker", "consumer", "postgres")


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
