"""Smoke test against a real Kafka broker: durable produce, exactly-once read back, manual commits.

Needs a broker (deploy/kafka/start.sh starts one on 127.0.0.1:9092) and confluent-kafka.
The address comes from KAFKA_BOOTSTRAP. Without a reachable broker (or without the client
library) the test is skipped locally and fails in CI (CI=true), where the broker must run.
"""

import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.environment import unavailable

_import_error: ImportError | None = None
try:
    from confluent_kafka import (  # type: ignore[import-not-found,unused-ignore]
        Consumer,
        KafkaError,
        KafkaException,
        Message,
        Producer,
        TopicPartition,
    )
    from confluent_kafka.admin import (  # type: ignore[attr-defined,import-not-found,unused-ignore]
        AdminClient,
        NewTopic,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    _import_error = exc

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
N = 1000
PARTITIONS = 3
DEADLINE_S = 20.0


def _tcp_reachable(bootstrap: str) -> bool:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=3):
                return True
        except (OSError, ValueError):
            continue
    return False


@pytest.fixture(scope="module")
def admin() -> Any:
    if _import_error is not None:
        unavailable(
            f"confluent-kafka is not installed ({_import_error}): pip install confluent-kafka"
        )
    if not _tcp_reachable(BOOTSTRAP):
        unavailable(
            f"no Kafka broker reachable at KAFKA_BOOTSTRAP={BOOTSTRAP}: "
            "start one with deploy/kafka/start.sh"
        )
    client = AdminClient({"bootstrap.servers": BOOTSTRAP, "log_level": 4})
    try:
        client.list_topics(timeout=10)
    except KafkaException as err:
        unavailable(f"Kafka at {BOOTSTRAP} does not answer metadata requests: {err}")
    return client


@pytest.fixture
def topic(admin: Any) -> Iterator[str]:
    name = f"smoke-{uuid.uuid4().hex}"
    admin.create_topics([NewTopic(name, PARTITIONS, 1)], operation_timeout=10)[name].result(
        timeout=15
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until every partition has a leader
        meta = admin.list_topics(name, timeout=5).topics[name]
        leaders = [p.leader for p in meta.partitions.values()]
        if meta.error is None and len(leaders) == PARTITIONS and min(leaders) >= 0:
            break
        time.sleep(0.05)
    yield name
    admin.delete_topics([name], operation_timeout=10)[name].result(timeout=15)


def test_every_record_is_acked_then_read_back_once_with_manual_commits(topic: str) -> None:
    sent = {
        f"vote-{i}".encode(): f'{{"vote": {i}, "candidate": {i % 3}}}'.encode() for i in range(N)
    }

    # Produce: strongest durability settings; every delivery report must come back clean.
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": True})
    errors: list[KafkaError] = []
    acked: list[bytes] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append(msg.key() or b"")

    for key, value in sent.items():
        producer.produce(topic, value, key, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(DEADLINE_S) == 0, "records still undelivered after the deadline"
    assert errors == []
    assert sorted(acked) == sorted(sent)

    # Consume in a group, no auto commit: a synchronous commit after each processed batch.
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": f"smoke-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + DEADLINE_S
        while len(received) < N and time.monotonic() < deadline:
            batch = consumer.consume(200, 1.0)
            if not batch:
                continue
            for msg in batch:
                assert msg.error() is None, msg.error()
                key = msg.key() or b""
                assert msg.value() == sent.get(key)
                received.append(key)
            committed = consumer.commit(asynchronous=False) or []
            assert all(tp.error is None for tp in committed), committed
        # Nothing more may arrive: no duplicates after the last record.
        received.extend(m.key() or b"" for m in consumer.consume(100, 1.0))

        offsets = consumer.committed(
            [TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10
        )
        high = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)
        }
    finally:
        consumer.close()

    duplicates = [k for k, n in Counter(received).items() if n > 1]
    assert duplicates == []
    assert set(received) == set(sent)
    assert len(received) == N
    # The group's committed offsets (next offset to read) cover the whole topic: N in all.
    assert {tp.partition: tp.offset for tp in offsets} == high
    assert sum(tp.offset for tp in offsets) == N
