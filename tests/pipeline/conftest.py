"""Fixtures for the Kafka path against the real broker (deploy/kafka/start.sh).

Each test gets topics and a consumer group of its own. Without a reachable broker the tests
skip locally with the reason, and fail in CI (CI=true), where the broker is part of the setup.
"""

import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI
from sqlalchemy import text

from config import KafkaSettings, Settings
from db.engine import make_engine
from main import create_app
from pipeline.kafka.consumer import VoteConsumer
from pipeline.kafka.handler import BatchReport
from pipeline.kafka.producer import create_topics
from services.lifecycle import ParedaoLifecycle
from tests.conftest import Clock
from tests.support.app import running
from tests.support.environment import unavailable

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def broker_reachable(bootstrap: str = BOOTSTRAP) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return True
    except (OSError, ValueError):
        return False


@pytest.fixture
def kafka(settings: Settings) -> Iterator[KafkaSettings]:
    """Fresh topics (3 partitions) and a consumer group for this test."""
    if not broker_reachable():
        unavailable(f"no Kafka broker at KAFKA_BOOTSTRAP={BOOTSTRAP}: deploy/kafka/start.sh")
    name = f"test-{uuid.uuid4().hex[:12]}"
    topics = KafkaSettings(
        bootstrap=BOOTSTRAP,
        topic=f"{name}.votes",
        partitions=3,
        produce_timeout_s=5.0,
        group_id=f"{name}-group",
    )
    create_topics(topics)
    yield topics
    # Every test's topics go: a broker holding thousands of partitions restarts slowly.
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP, "log_level": 2})
    names = [topics.topic, topics.dead_letter_topic]
    for future in admin.delete_topics(names, operation_timeout=10).values():
        try:
            future.result(timeout=15)
        except KafkaException as exc:  # already gone (a drill deletes its own) is fine
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


@pytest.fixture
def kafka_settings(settings: Settings, kafka: KafkaSettings) -> Settings:
    """The test's settings on the Kafka path."""
    return settings.model_copy(
        update={
            "ingest": "kafka",
            "kafka_bootstrap": kafka.bootstrap,
            "kafka_topic": kafka.topic,
            "kafka_partitions": kafka.partitions,
            "kafka_timeout_s": kafka.produce_timeout_s,
            "kafka_group": kafka.group_id,
        }
    )


@pytest.fixture
def kafka_app(kafka_settings: Settings, clock: Clock) -> FastAPI:
    return create_app(kafka_settings, clock=clock)


@pytest.fixture
async def kafka_client(kafka_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(kafka_app) as c:
        yield c


class RunningConsumer:
    """A consumer group member on a thread of the test process (`on_batch` sees each batch
    it stored, as the consumer's metrics do)."""

    def __init__(
        self,
        database_url: str,
        kafka: KafkaSettings,
        clock: Clock,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self.engine = make_engine(database_url, pool_size=2)
        lifecycle = ParedaoLifecycle(self.engine, clock, caches=(), log_close=None)
        self.member = VoteConsumer(
            self.engine,
            kafka,
            clock,
            close_due=lifecycle.begin_due_closes,
            poll_s=0.1,
            close_check_s=0.2,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.member.run, args=(self.stop, on_batch), daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the consumer did not stop"
        self.engine.dispose()


@pytest.fixture
def on_batch() -> Callable[[BatchReport], None] | None:
    """What sees each batch the `consumer` fixture stores (none; a test module overrides it)."""
    return None


@pytest.fixture
def consumer(
    database_url: str,
    kafka: KafkaSettings,
    clock: Clock,
    on_batch: Callable[[BatchReport], None] | None,
) -> Iterator[RunningConsumer]:
    running = RunningConsumer(database_url, kafka, clock, on_batch)
    yield running
    running.close()


def wait_until(condition: Callable[[], Any], timeout_s: float = 30, what: str = "") -> Any:
    """Poll `condition` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what or condition}")


def count_rows(database_url: str, table: str, paredao_id: int) -> int:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(f"SELECT count(*) FROM {table} WHERE paredao_id = :p"),  # noqa: S608
                    {"p": paredao_id},
                ).scalar_one()
            )
    finally:
        engine.dispose()
