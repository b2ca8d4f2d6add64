"""Produce and consume throughput of the Python Kafka clients against a real broker.

Start a broker first (deploy/kafka/start.sh), then, in a venv that has the clients
(pip install confluent-kafka aiokafka):

    python bench/kafka_clients.py --bootstrap 127.0.0.1:9092 --messages 200000

Each client gets its own fresh topic (created, then deleted) and does:
  produce  N ~200-byte JSON votes with acks=all and idempotence on, and waits for every
           delivery report (the time runs until the last one is in; any error fails the run);
  consume  them back in a new consumer group, auto commit off, one synchronous commit after
           each batch of up to --batch records (the time runs from subscribe, so it includes
           the group join, to the last commit), checking every key came back exactly once and
           that the committed offsets add up to N.

Clients: `confluent` (confluent-kafka's Producer/Consumer, librdkafka), `confluent-aio`
(confluent-kafka's asyncio wrappers, confluent_kafka.aio) and `aiokafka` (pure asyncio).
Producers use linger 5 ms (librdkafka's default; aiokafka's default is 0) and otherwise
each client's defaults. confluent-aio keeps at most 50000 records in flight (see below).

librdkafka's consumer stops fetching a partition for fetch.queue.backoff.ms (default 1000 ms)
whenever its prefetch queue is over queued.min.messages (default 100000): draining a large
backlog then stalls about one second. --fetch-queue-backoff-ms 10 shows the rate without it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

CLIENTS = ("confluent", "confluent-aio", "aiokafka")
LINGER_MS = 5
TIMEOUT_S = 300.0
# confluent_kafka.aio.AIOProducer: most records awaiting their delivery report at once.
AIO_MAX_IN_FLIGHT = 50_000
AIO_CHUNK = 10_000
# Extra librdkafka consumer settings, from --fetch-queue-backoff-ms.
CONFLUENT_CONSUMER_EXTRA: dict[str, Any] = {}

Record = tuple[bytes, bytes]  # (key, value)


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


# --- topics (confluent-kafka's AdminClient when present, else aiokafka's) -------------------------


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    try:
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined,import-untyped,import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(_aiokafka_admin(bootstrap, topic, partitions, delete=False))
        return
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    futures = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=30)
    futures[topic].result(timeout=60)
    _wait_for_leaders(lambda: admin.list_topics(topic, timeout=10).topics[topic], partitions)


def _wait_for_leaders(describe: Callable[[], Any], partitions: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = describe()
        if (
            meta.error is None
            and len(meta.partitions) == partitions
            and all(p.leader >= 0 for p in meta.partitions.values())
        ):
            return
        time.sleep(0.1)
    raise RuntimeError("topic has no leaders after 30 s")


def delete_topic(bootstrap: str, topic: str) -> None:
    try:
        from confluent_kafka.admin import AdminClient  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(_aiokafka_admin(bootstrap, topic, 0, delete=True))
        return
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=60)


async def _aiokafka_admin(bootstrap: str, topic: str, partitions: int, *, delete: bool) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped,import-not-found,unused-ignore]

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if delete:
            await admin.delete_topics([topic])
        else:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
            await asyncio.sleep(1.0)  # let the leaders be elected
    finally:
        await admin.close()


# --- confluent-kafka, synchronous API -------------------------------------------------------------


def confluent_produce(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    from confluent_kafka import KafkaError, Message, Producer  # type: ignore[import-untyped,import-not-found,unused-ignore]

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": LINGER_MS,
        }
    )
    errors: list[KafkaError] = []
    delivered = 0

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        nonlocal delivered
        if err is not None:
            errors.append(err)
        else:
            delivered += 1

    start = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(TIMEOUT_S)
    elapsed = time.perf_counter() - start
    if left or errors or delivered != len(records):
        raise RuntimeError(f"confluent produce: {left} undelivered, errors {errors[:3]}")
    return elapsed


def confluent_consume(bootstrap: str, topic: str, n: int, batch: int) -> tuple[float, float]:
    from confluent_kafka import Consumer  # type: ignore[import-untyped,import-not-found,unused-ignore]

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **CONFLUENT_CONSUMER_EXTRA,
        }
    )
    keys: set[bytes] = set()
    count = 0
    first = 0.0
    start = time.perf_counter()
    try:
        consumer.subscribe([topic])
        while count < n:
            if time.perf_counter() - start > TIMEOUT_S:
                raise RuntimeError(f"confluent consume: only {count}/{n} records")
            msgs = consumer.consume(batch, 1.0)
            if not msgs:
                continue
            if not first:
                first = time.perf_counter() - start
            for msg in msgs:
                if msg.error() is not None:
                    raise RuntimeError(f"confluent consume: {msg.error()}")
                keys.add(msg.key() or b"")
            count += len(msgs)
            committed = consumer.commit(asynchronous=False) or []
            if any(tp.error is not None for tp in committed):
                raise RuntimeError(f"confluent commit: {committed}")
        elapsed = time.perf_counter() - start
        total = sum(tp.offset for tp in consumer.committed(consumer.assignment(), timeout=30))
    finally:
        consumer.close()
    _check(count, keys, total, n)
    return elapsed, first


# --- confluent-kafka, asyncio API (confluent_kafka.aio) -------------------------------------------


async def confluent_aio_produce(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    from confluent_kafka.aio import AIOProducer  # type: ignore[import-untyped,import-not-found,unused-ignore]

    producer = AIOProducer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": LINGER_MS,
        }
    )
    results: list[Any] = []
    try:
        start = time.perf_counter()
        # AIOProducer has no backpressure: past librdkafka's queue.buffering.max.messages
        # (100000) the records fail with _QUEUE_FULL instead of waiting. Bound what is in flight.
        pending: list[asyncio.Future[Any]] = []
        for key, value in records:
            pending.append(await producer.produce(topic, value=value, key=key))
            if len(pending) >= AIO_MAX_IN_FLIGHT:
                oldest, pending = pending[:AIO_CHUNK], pending[AIO_CHUNK:]
                results += await asyncio.gather(*oldest, return_exceptions=True)
        await producer.flush(TIMEOUT_S)
        results += await asyncio.gather(*pending, return_exceptions=True)
        elapsed = time.perf_counter() - start
    finally:
        await producer.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise RuntimeError(f"confluent-aio produce: {len(errors)} errors, e.g. {errors[0]!r}")
    return elapsed


async def confluent_aio_consume(
    bootstrap: str, topic: str, n: int, batch: int
) -> tuple[float, float]:
    from confluent_kafka.aio import AIOConsumer  # type: ignore[import-untyped,import-not-found,unused-ignore]

    consumer = AIOConsumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **CONFLUENT_CONSUMER_EXTRA,
        },
        max_workers=2,
    )
    keys: set[bytes] = set()
    count = 0
    first = 0.0
    start = time.perf_counter()
    try:
        await consumer.subscribe([topic])
        while count < n:
            if time.perf_counter() - start > TIMEOUT_S:
                raise RuntimeError(f"confluent-aio consume: only {count}/{n} records")
            msgs = await consumer.consume(num_messages=batch, timeout=1.0)
            if not msgs:
                continue
            if not first:
                first = time.perf_counter() - start
            for msg in msgs:
                if msg.error() is not None:
                    raise RuntimeError(f"confluent-aio consume: {msg.error()}")
                keys.add(msg.key() or b"")
            count += len(msgs)
            committed = await consumer.commit(asynchronous=False) or []
            if any(tp.error is not None for tp in committed):
                raise RuntimeError(f"confluent-aio commit: {committed}")
        elapsed = time.perf_counter() - start
        assignment = await consumer.assignment()
        total = sum(tp.offset for tp in await consumer.committed(assignment, timeout=30))
    finally:
        await consumer.close()
    _check(count, keys, total, n)
    return elapsed, first


# --- aiokafka -------------------------------------------------------------------------------------


async def aiokafka_produce(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped,import-not-found,unused-ignore]

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=LINGER_MS
    )
    await producer.start()
    try:
        start = time.perf_counter()
        # send() only waits for room in the accumulator; its future resolves on the ack.
        futures = [await producer.send(topic, value=v, key=k) for k, v in records]
        results = await asyncio.gather(*futures, return_exceptions=True)
        elapsed = time.perf_counter() - start
    finally:
        await producer.stop()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise RuntimeError(f"aiokafka produce: {len(errors)} errors, e.g. {errors[0]!r}")
    return elapsed


async def aiokafka_consume(bootstrap: str, topic: str, n: int, batch: int) -> tuple[float, float]:
    from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped,import-not-found,unused-ignore]

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=batch,
    )
    keys: set[bytes] = set()
    count = 0
    first = 0.0
    start = time.perf_counter()
    await consumer.start()
    try:
        while count < n:
            if time.perf_counter() - start > TIMEOUT_S:
                raise RuntimeError(f"aiokafka consume: only {count}/{n} records")
            batches = await consumer.getmany(timeout_ms=1000, max_records=batch)
            if not batches:
                continue
            if not first:
                first = time.perf_counter() - start
            for records in batches.values():
                for rec in records:
                    keys.add(rec.key or b"")
                count += len(records)
            await consumer.commit()
        elapsed = time.perf_counter() - start
        total = 0
        for tp in consumer.assignment():
            total += await consumer.committed(tp) or 0
    finally:
        await consumer.stop()
    _check(count, keys, total, n)
    return elapsed, first


def _check(count: int, keys: set[bytes], committed: int, n: int) -> None:
    if count != n or len(keys) != n or committed != n:
        raise RuntimeError(
            f"consumed {count} records, {len(keys)} distinct keys, committed {committed}; "
            f"expected {n} of each"
        )


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
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
