"""The consumer's own metrics, scraped over HTTP as Prometheus does: the votes it decided, the
dead letters, and the lag (the log's end minus the offsets stored with the votes)."""

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from config import KafkaSettings
from db.engine import make_engine
from pipeline.kafka.handler import BatchReport
from pipeline.kafka.metrics import ConsumerMetrics
from tests.pipeline.conftest import RunningConsumer, wait_until
from tests.support.api import cast_vote
from tests.support.paredoes import make_paredao, nominee_ids
from tests.support.ports import free_port


class Watch:
    """The consumer's metrics served on a free port, as `python main.py consumer` serves them."""

    def __init__(self, database_url: str, kafka: KafkaSettings) -> None:
        self.engine = make_engine(database_url, pool_size=1)  # the lag's reads
        self.metrics = ConsumerMetrics(self.engine, kafka, lag_every_s=0.2)
        self.port = free_port()
        self.metrics.serve("127.0.0.1", self.port)

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def close(self) -> None:
        self.metrics.close()
        self.engine.dispose()


@pytest.fixture
def watch(database_url: str, kafka: KafkaSettings) -> Iterator[Watch]:
    metrics = Watch(database_url, kafka)
    yield metrics
    metrics.close()


@pytest.fixture
def on_batch(watch: Watch) -> Callable[[BatchReport], None]:
    """The `consumer` fixture's batches go to the metrics (stopped before them)."""
    return watch.metrics.observe


def counter(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_votes_dead_letters_and_lag(
    kafka_client: httpx.AsyncClient, kafka: KafkaSettings, watch: Watch, consumer: RunningConsumer
) -> None:
    before = watch.scrape()
    p = await make_paredao(kafka_client, 2)
    for _ in range(5):
        assert (
            await cast_vote(kafka_client, p["id"], nominee_id=nominee_ids(p)[0])
        ).status_code == 202
    voter = uuid.uuid4().hex
    for _ in range(11):  # the 11th in a minute is refused by the torcida limit
        r = await cast_vote(kafka_client, p["id"], nominee_id=nominee_ids(p)[1], voter_id=voter)
        assert r.status_code == 202
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    producer.produce(kafka.topic, value=b"\x00 not a vote", key=b"poison", partition=0)
    assert producer.flush(10) == 0

    def decided() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        now = watch.scrape()
        done = counter(now, "paredao_consumer_dead_letters_total") == 1
        counted = counter(now, "paredao_consumer_votes_total", outcome="counted")
        return (
            now
            if done
            and counted - counter(before, "paredao_consumer_votes_total", outcome="counted") == 15
            else None
        )

    after = wait_until(decided, 30, "the consumer's metrics to count every record")
    assert counter(after, "paredao_consumer_votes_total", outcome="refused") == 1
    lag_names = [name for name, _ in after if name == "paredao_consumer_lag"]
    assert len(lag_names) == kafka.partitions
    wait_until(lambda: watch.metrics.sample_lag() == 0, 10, "no lag once everything is stored")
