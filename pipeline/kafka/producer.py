"""The Kafka side of the ingestion path: the client settings, the topics, and the API's
producer (`KafkaVoteSink`), which answers a vote once the brokers hold it (acks=all)."""

import asyncio
import logging
import threading
import time
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from sqlalchemy import Engine

from config import KafkaSettings
from db.consumer import read_offsets
from model.ballot import Accepted, Ballot
from model.errors import Unavailable
from model.vote import VoteStatus
from pipeline.kafka.codec import CloseMarker, encode_ballot, encode_marker, record_key
from pipeline.kafka.handler import Record

log = logging.getLogger(__name__)


def _client_error(error: KafkaError) -> None:
    log.warning("kafka: %s", error)


# librdkafka logs every failed reconnect to stderr (every ~100 ms while a broker is down):
# only its critical lines; its errors reach our log once each through `error_cb`.
QUIET: dict[str, Any] = {"log_level": 2, "error_cb": _client_error}


def producer_config(kafka: KafkaSettings) -> dict[str, Any]:
    """Idempotent, acks=all: a retried send is never logged twice, and an acknowledged one is
    on every in-sync replica. A send that cannot be acknowledged in time fails (503)."""
    return {
        "bootstrap.servers": kafka.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "message.timeout.ms": int(kafka.produce_timeout_s * 1000),
        "socket.connection.setup.timeout.ms": int(kafka.produce_timeout_s * 1000),
        **QUIET,
    }


def create_topics(kafka: KafkaSettings, timeout_s: float = 30) -> list[str]:
    """Create the votes topic and its dead-letter topic if missing; the names created.

    The votes topic keeps the broker's append time as each record's timestamp, so each
    partition's time only moves forward, and needs `min_insync_replicas` replicas to take a
    write (with acks=all, an acknowledged vote is on at least that many brokers)."""
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, **QUIET})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    config = {
        "message.timestamp.type": "LogAppendTime",
        "min.insync.replicas": str(kafka.min_insync_replicas),
    }
    wanted = [
        NewTopic(kafka.topic, kafka.partitions, kafka.replication, config=config),
        NewTopic(kafka.dead_letter_topic, 1, kafka.replication, config=config),
    ]
    new = [t for t in wanted if t.topic not in existing]
    if not new:
        return []
    for name, future in admin.create_topics(new, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            log.info("topic %s was created meanwhile", name)
    return [t.topic for t in new]


def partition_count(
    client: Producer | Consumer | AdminClient, topic: str, timeout_s: float = 10
) -> int:
    """How many partitions `topic` has (a `RuntimeError` if it does not exist)."""
    meta = client.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise RuntimeError(
            f"the Kafka topic {topic!r} does not exist: run `python main.py kafka-topics`"
        )
    return len(meta.partitions)


class KafkaVoteSink:
    """The Kafka path's `VoteSink`: produces each ballot and answers 202 `queued` only once
    the brokers acknowledged it; the consumer group decides it later with the direct path's
    rules. Many votes are in flight at once; delivery reports come back on a thread of ours."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._polling = threading.Event()
        self._poller: threading.Thread | None = None
        self._accepting = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._producer = Producer(producer_config(self._kafka))
        self._polling.set()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()
        self._accepting = True

    async def stop(self) -> None:
        """Stop taking votes and wait for the reports of those sent (bounded by the timeout)."""
        self._accepting = False
        if self._producer is None:
            return
        left = await asyncio.to_thread(self._producer.flush, self._kafka.produce_timeout_s + 1)
        if left:
            log.error("%d votes had no delivery report at shutdown (their clients got 503)", left)
        self._polling.clear()
        if self._poller is not None:
            await asyncio.to_thread(self._poller.join)
        self._producer = None

    def _poll(self) -> None:
        assert self._producer is not None
        while self._polling.is_set():
            self._producer.poll(0.05)

    async def _send(self, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        """Produce one record and return once the brokers acknowledged it (`Unavailable` if
        they cannot within the timeout)."""
        if not self._accepting or self._producer is None or self._loop is None:
            raise Unavailable("the server is shutting down: try again", retry_after_s=1)
        loop = self._loop
        done: asyncio.Future[KafkaError | None] = loop.create_future()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            loop.call_soon_threadsafe(_settle, done, error)

        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        try:
            self._producer.produce(
                self._kafka.topic, value=value, key=key, on_delivery=delivered, **extra
            )
        except BufferError:
            raise Unavailable("too many votes at once: try again in a second", 1) from None
        except KafkaException as exc:
            log.error("could not send a record: %s", exc)
            raise Unavailable("the vote log cannot take votes now: try again", 1) from exc
        try:
            error = await asyncio.wait_for(done, self._kafka.produce_timeout_s + 2)
        except TimeoutError:
            error = KafkaError(KafkaError._MSG_TIMED_OUT)
        if error is not None:
            log.warning("a record was not acknowledged: %s", error)
            raise Unavailable(
                "the vote could not be logged: retry with the same vote_id", retry_after_s=1
            )

    async def submit(self, ballot: Ballot) -> Accepted:
        await self._send(record_key(ballot), encode_ballot(ballot))
        return Accepted.of(ballot, ballot.cast_at, status=VoteStatus.queued)

    async def log_close(self, paredao_id: int) -> None:
        """Write the paredão's close marker into every partition of the topic and return once
        all are acknowledged: every vote logged before them was cast before the close."""
        assert self._producer is not None
        partitions = await asyncio.to_thread(partition_count, self._producer, self._kafka.topic)
        marker = encode_marker(CloseMarker(paredao_id, partitions))
        await asyncio.gather(*(self._send(None, marker, p) for p in range(partitions)))


def _settle(future: "asyncio.Future[KafkaError | None]", error: KafkaError | None) -> None:
    if not future.done():  # the waiter may have given up on it
        future.set_result(error)


def consumer_lag(engine: Engine, kafka: KafkaSettings) -> list[tuple[int, int, int]]:
    """(partition, next offset stored with the votes, end of the log) for every partition."""
    with engine.connect() as connection:
        stored = read_offsets(connection, kafka.topic)
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "paredao-lag", **QUIET})
    try:
        partitions = partition_count(consumer, kafka.topic)
        rows = []
        for p in range(partitions):
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(kafka.topic, p), timeout=kafka.produce_timeout_s
            )
            rows.append((p, stored.get(p, 0), int(high)))
        return rows
    finally:
        consumer.close()


def read_log(kafka: KafkaSettings, timeout_s: float = 60) -> list[Record]:
    """Every record the votes topic holds now, partition by partition in log order (read
    from the beginning up to each partition's end, outside the consumer group)."""
    reader = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"{kafka.group_id}-replay",
            "enable.auto.commit": False,
            **QUIET,
        }
    )
    try:
        partitions = partition_count(reader, kafka.topic)
        ends = {}
        for p in range(partitions):
            low, high = reader.get_watermark_offsets(
                TopicPartition(kafka.topic, p), timeout=kafka.produce_timeout_s
            )
            if high > low:
                ends[p] = high
        reader.assign([TopicPartition(kafka.topic, p, OFFSET_BEGINNING) for p in ends])
        records: dict[int, list[Record]] = {p: [] for p in ends}
        deadline = time.monotonic() + timeout_s
        while any(not r or r[-1].offset + 1 < ends[p] for p, r in records.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {kafka.topic} to its end in {timeout_s} s")
            for message in reader.consume(10_000, timeout=0.5):
                if message.error() is not None:
                    continue
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None
                if offset < ends[partition]:
                    records[partition].append(
                        Record(kafka.topic, partition, offset, message.key(), message.value())
                    )
        return [r for p in sorted(records) for r in records[p]]
    finally:
        reader.close()
