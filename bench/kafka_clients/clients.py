"""Each client's produce and consume runs: produce every record with acks=all and
idempotence, waiting for every delivery report; consume them back in a new group with one
synchronous commit a batch, checking every key came back once and the commits add up."""

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

LINGER_MS = 5
TIMEOUT_S = 300.0
# confluent_kafka.aio.AIOProducer: most records awaiting their delivery report at once.
AIO_MAX_IN_FLIGHT = 50_000
AIO_CHUNK = 10_000
# Extra librdkafka consumer settings, from --fetch-queue-backoff-ms.
CONFLUENT_CONSUMER_EXTRA: dict[str, Any] = {}

Record = tuple[bytes, bytes]  # (key, value)


def confluent_producer_config(bootstrap: str) -> dict[str, Any]:
    """librdkafka's producer settings, the same for the synchronous and the asyncio API."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": LINGER_MS,
    }


def confluent_consumer_config(bootstrap: str) -> dict[str, Any]:
    """librdkafka's consumer settings: a new group, from the start, no auto commit."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        **CONFLUENT_CONSUMER_EXTRA,
    }


class ConsumeRun:
    """What a consume run has read so far (keys, how many, when the first came), timed from
    its start (subscribe, so the group join counts)."""

    def __init__(self, client: str, n: int) -> None:
        self.client = client
        self.n = n
        self.keys: set[bytes] = set()
        self.count = 0
        self.first = 0.0
        self.elapsed = 0.0
        self.start = time.perf_counter()

    def wants_more(self) -> bool:
        """Whether records are still missing; past TIMEOUT_S the run fails."""
        if self.count >= self.n:
            self.elapsed = time.perf_counter() - self.start
            return False
        if time.perf_counter() - self.start > TIMEOUT_S:
            raise RuntimeError(f"{self.client} consume: only {self.count}/{self.n} records")
        return True

    def add(self, keys: Sequence[bytes]) -> None:
        if not self.first:
            self.first = time.perf_counter() - self.start
        self.keys.update(keys)
        self.count += len(keys)

    def result(self, committed: int) -> tuple[float, float]:
        """(seconds to the last commit, seconds to the first record), once every record came
        back exactly once and the committed offsets add up to them."""
        if self.count != self.n or len(self.keys) != self.n or committed != self.n:
            raise RuntimeError(
                f"consumed {self.count} records, {len(self.keys)} distinct keys, committed "
                f"{committed}; expected {self.n} of each"
            )
        return self.elapsed, self.first


def _confluent_keys(client: str, msgs: Iterable[Any]) -> list[bytes]:
    keys = []
    for msg in msgs:
        if msg.error() is not None:
            raise RuntimeError(f"{client} consume: {msg.error()}")
        keys.append(msg.key() or b"")
    return keys


def _check_committed(client: str, committed: list[Any] | None) -> None:
    if any(tp.error is not None for tp in committed or []):
        raise RuntimeError(f"{client} commit: {committed}")


def _check_delivered(client: str, results: list[Any]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise RuntimeError(f"{client} produce: {len(errors)} errors, e.g. {errors[0]!r}")


# --- confluent-kafka, synchronous API -------------------------------------------------------------


def confluent_produce(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    from confluent_kafka import KafkaError, Message, Producer  # type: ignore[import-untyped,import-not-found,unused-ignore]

    producer = Producer(confluent_producer_config(bootstrap))
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

    consumer = Consumer(confluent_consumer_config(bootstrap))
    run = ConsumeRun("confluent", n)
    try:
        consumer.subscribe([topic])
        while run.wants_more():
            msgs = consumer.consume(batch, 1.0)
            if msgs:
                run.add(_confluent_keys("confluent", msgs))
                _check_committed("confluent", consumer.commit(asynchronous=False))
        total = sum(tp.offset for tp in consumer.committed(consumer.assignment(), timeout=30))
    finally:
        consumer.close()
    return run.result(total)


# --- confluent-kafka, asyncio API (confluent_kafka.aio) -------------------------------------------


async def confluent_aio_produce(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    from confluent_kafka.aio import AIOProducer  # type: ignore[import-untyped,import-not-found,unused-ignore]

    producer = AIOProducer(confluent_producer_config(bootstrap))
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
    _check_delivered("confluent-aio", results)
    return elapsed


async def confluent_aio_consume(
    bootstrap: str, topic: str, n: int, batch: int
) -> tuple[float, float]:
    from confluent_kafka.aio import AIOConsumer  # type: ignore[import-untyped,import-not-found,unused-ignore]

    consumer = AIOConsumer(confluent_consumer_config(bootstrap), max_workers=2)
    run = ConsumeRun("confluent-aio", n)
    try:
        await consumer.subscribe([topic])
        while run.wants_more():
            msgs = await consumer.consume(num_messages=batch, timeout=1.0)
            if msgs:
                run.add(_confluent_keys("confluent-aio", msgs))
                _check_committed("confluent-aio", await consumer.commit(asynchronous=False))
        assignment = await consumer.assignment()
        total = sum(tp.offset for tp in await consumer.committed(assignment, timeout=30))
    finally:
        await consumer.close()
    return run.result(total)


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
    _check_delivered("aiokafka", results)
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
    run = ConsumeRun("aiokafka", n)
    await consumer.start()
    try:
        while run.wants_more():
            batches = await consumer.getmany(timeout_ms=1000, max_records=batch)
            if batches:
                run.add([rec.key or b"" for records in batches.values() for rec in records])
                await consumer.commit()
        total = 0
        for tp in consumer.assignment():
            total += await consumer.committed(tp) or 0
    finally:
        await consumer.stop()
    return run.result(total)
