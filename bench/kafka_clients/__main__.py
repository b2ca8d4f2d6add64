"""The driver: `python -m bench.kafka_clients` (the package's docstring says what it does)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import bench.kafka_clients
from bench.kafka_clients.clients import (
    CONFLUENT_CONSUMER_EXTRA,
    Record,
    aiokafka_consume,
    aiokafka_produce,
    confluent_aio_consume,
    confluent_aio_produce,
    confluent_consume,
    confluent_produce,
)
from bench.kafka_clients.topics import create_topic, delete_topic

CLIENTS = ("confluent", "confluent-aio", "aiokafka")


@dataclass
class Result:
    client: str
    version: str
    produce_s: float
    consume_s: float
    first_record_s: float
    messages: int

    def line(self) -> str:
        produce = self.messages / self.produce_s
        consume = self.messages / self.consume_s
        return (
            f"{self.client:<14} {self.version:<7} produce {produce:>9,.0f} msgs/s "
            f"({self.produce_s:6.2f} s)   consume {consume:>9,.0f} msgs/s "
            f"({self.consume_s:6.2f} s, first record after {self.first_record_s:.2f} s)"
        )


def make_records(n: int, size: int, seed: int = 42) -> list[Record]:
    """N distinct keys and JSON votes padded to about `size` bytes."""
    rnd = random.Random(seed)
    paredoes = [str(uuid.UUID(int=rnd.getrandbits(128))) for _ in range(4)]
    records = []
    for i in range(n):
        vote = {
            "vote_id": str(uuid.UUID(int=rnd.getrandbits(128))),
            "paredao_id": paredoes[i % len(paredoes)],
            "candidate": rnd.randrange(3),
            "voter": f"{rnd.getrandbits(64):016x}",
            "ts": 1_763_700_000_000 + i,
            "pad": "",
        }
        raw = json.dumps(vote, separators=(",", ":"))
        vote["pad"] = "x" * max(0, size - len(raw))
        records.append((str(i).encode(), json.dumps(vote, separators=(",", ":")).encode()))
    return records


# --- driver ---------------------------------------------------------------------------------------


def client_version(client: str) -> str:
    if client.startswith("confluent"):
        return importlib.metadata.version("confluent-kafka")
    return importlib.metadata.version("aiokafka")


def run_client(
    client: str, bootstrap: str, records: Sequence[Record], partitions: int, batch: int
) -> Result:
    topic = f"bench-{client}-{uuid.uuid4().hex[:8]}"
    n = len(records)
    create_topic(bootstrap, topic, partitions)
    try:
        if client == "confluent":
            produce_s = confluent_produce(bootstrap, topic, records)
            consume_s, first = confluent_consume(bootstrap, topic, n, batch)
        elif client == "confluent-aio":
            produce_s = asyncio.run(confluent_aio_produce(bootstrap, topic, records))
            consume_s, first = asyncio.run(confluent_aio_consume(bootstrap, topic, n, batch))
        else:
            produce_s = asyncio.run(aiokafka_produce(bootstrap, topic, records))
            consume_s, first = asyncio.run(aiokafka_consume(bootstrap, topic, n, batch))
    finally:
        delete_topic(bootstrap, topic)
    return Result(client, client_version(client), produce_s, consume_s, first, n)


def main(argv: Sequence[str] | None = None) -> int:
    about = (bench.kafka_clients.__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_clients", description=about)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=200, help="bytes per JSON value (about)")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="records per consume + commit")
    parser.add_argument("--runs", type=int, default=1, help="repeat every client this often")
    parser.add_argument(
        "--warmup", type=int, default=20_000, help="untimed records per client first (0: none)"
    )
    parser.add_argument(
        "--clients", default=",".join(CLIENTS), help=f"comma-separated subset of {CLIENTS}"
    )
    parser.add_argument(
        "--fetch-queue-backoff-ms",
        type=int,
        help="librdkafka fetch.queue.backoff.ms for the confluent consumers (default 1000)",
    )
    parser.add_argument("--json", action="store_true", help="also print results as JSON lines")
    args = parser.parse_args(argv)
    if args.fetch_queue_backoff_ms is not None:
        CONFLUENT_CONSUMER_EXTRA["fetch.queue.backoff.ms"] = args.fetch_queue_backoff_ms

    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = sorted(set(clients) - set(CLIENTS))
    if unknown:
        parser.error(f"unknown clients {unknown}; choose from {CLIENTS}")

    records = make_records(args.messages, args.size)
    avg = sum(len(v) for _, v in records) / len(records)
    print(
        f"{args.messages} messages of ~{avg:.0f} bytes, {args.partitions} partitions, "
        f"acks=all + idempotence, consume batches of {args.batch} + sync commit, "
        f"broker {args.bootstrap}, librdkafka consumer extras {CONFLUENT_CONSUMER_EXTRA}",
        flush=True,
    )
    failed = False
    if args.warmup:
        # Untimed: the broker creates its internal topics (__transaction_state for the first
        # idempotent producer, __consumer_offsets for the first group) and each client loads.
        for client in clients:
            run_client(client, args.bootstrap, records[: args.warmup], args.partitions, args.batch)
    for run in range(1, args.runs + 1):
        for client in clients:
            try:
                result = run_client(client, args.bootstrap, records, args.partitions, args.batch)
            except Exception as exc:
                failed = True
                print(f"run {run}: {client:<14} FAILED: {exc!r}", flush=True)
                continue
            print(f"run {run}: {result.line()}", flush=True)
            if args.json:
                print(json.dumps({"run": run, **result.__dict__}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
