"""The Grafana dashboard (deploy/grafana/paredao.json) on a real Prometheus: Debian's
`prometheus` (deploy/prometheus/install.sh) scrapes the processes with
deploy/grafana/prometheus.yml (a copy with this run's ports, scraping every second), while a
short load votes through them; then every expression the dashboard plots must return data.

Two Prometheus servers scrape the same processes: one only the Kafka stack an operator runs
in production (2 API workers with PAREDAO_INGEST=kafka, one `python main.py consumer`),
where every panel but the direct path's group-commit writer must have data; one also an API
on the direct path (embedded SQLite), where every panel must.

Without prometheus, the broker or PostgreSQL the test skips locally and fails in CI (CI=true).
"""

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.common import Server, free_port
from bench.kafka import ConsumerProcess, api_env, delete_topics, lag
from bench.prometheus import INSTALL, Prometheus, Query, ask_dashboard, binary
from bench.votes import open_paredao
from config import KafkaSettings
from db.engine import make_engine
from db.migrate import upgrade_to_head
from pipeline.kafka.producer import create_topics
from tests.deploy import test_stack
from tests.pipeline.conftest import BOOTSTRAP, broker_reachable
from tests.support.environment import unavailable

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

LOAD_S = 12.0  # votes and reads: enough for rate()s over [1m] scraped every second
# The direct path's group-commit writer: no process of the Kafka stack has one.
DIRECT_ONLY = ("paredao_vote_writer_queue_depth", "paredao_vote_batch_", "paredao_vote_commit_")


@dataclass
class Scraped:
    kafka_only: Prometheus  # the production topology: Kafka API and consumer
    everything: Prometheus  # and an API on the direct path


# A database of its own on the running PostgreSQL, dropped afterwards (skips, or fails in CI,
# without PostgreSQL): the stack test's fixture.
database = test_stack.database


@pytest.fixture(scope="module")
def database_url(database: str) -> str:
    """That database migrated to the newest schema; its URL."""
    url = f"postgresql+psycopg://paredao:paredao@127.0.0.1:{test_stack.PG_PORT}/{database}"
    upgrade_to_head(url)
    return url


async def _load(apis: list[str], seconds: float) -> None:
    """Votes (some refused: a nominee not in the paredão), results reads and a 404, on each
    API for `seconds`."""
    async with httpx.AsyncClient(timeout=30) as client:

        async def voter(api: str, paredao: int, nominees: list[int], n: int) -> None:
            deadline = time.monotonic() + seconds
            i = 0
            while time.monotonic() < deadline:
                i += 1
                nominee = nominees[i % len(nominees)] if i % 10 else max(nominees) + 1000
                body = {"nominee_id": nominee, "mode": "torcida", "voter_id": f"p-{n}-{i}"}
                r = await client.post(f"{api}/paredoes/{paredao}/votes", json=body)
                assert r.status_code in (202, 422), r.text
                await client.get(f"{api}/paredoes/{paredao}/results")
                if i % 20 == 0:
                    await client.get(f"{api}/nothing/{uuid.uuid4()}")
                await asyncio.sleep(0.02)

        jobs = []
        for api in apis:
            paredao, nominees = open_paredao(api)
            jobs += [voter(api, paredao, nominees, n) for n in range(4)]
        await asyncio.gather(*jobs)


@pytest.fixture(scope="module")
def scraped(database_url: str) -> Iterator[Scraped]:
    if binary() is None:
        unavailable(f"prometheus is not installed: run {INSTALL}")
    if not broker_reachable():
        unavailable(f"no Kafka broker at {BOOTSTRAP}: deploy/kafka/start.sh")
    workdir = Path(tempfile.mkdtemp(prefix="paredao-prometheus-"))
    name = f"prom-{uuid.uuid4().hex[:12]}"
    kafka = KafkaSettings(
        bootstrap=BOOTSTRAP, topic=f"{name}.votes", partitions=2, group_id=f"{name}-group"
    )
    create_topics(kafka)
    sqlite_url = f"sqlite:///{workdir / 'direct.db'}"
    upgrade_to_head(sqlite_url)
    for folder in ("kafka-metrics", "direct-metrics"):
        (workdir / folder).mkdir()
    metrics_port = free_port()
    engine = make_engine(database_url, pool_size=1)
    consumer = ConsumerProcess(
        database_url,
        kafka,
        workdir,
        extra_env={"PAREDAO_CONSUMER_METRICS_PORT": str(metrics_port)},
    )
    kafka_env = {
        **api_env(database_url, kafka),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "kafka-metrics"),
    }
    direct_env = {
        **api_env(sqlite_url),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "direct-metrics"),
    }
    try:
        with (
            Server("--factory main:create_app", 2, kafka_env) as kafka_api,
            Server("--factory main:create_app", 1, direct_env) as direct_api,
        ):
            kafka_api_target = f"127.0.0.1:{kafka_api.port}"
            consumer_target = f"127.0.0.1:{metrics_port}"
            with (
                Prometheus(
                    workdir / "kafka-only",
                    {"paredao-api": [kafka_api_target], "paredao-consumer": [consumer_target]},
                    interval="1s",
                ) as kafka_only,
                Prometheus(
                    workdir / "everything",
                    {
                        "paredao-api": [kafka_api_target, f"127.0.0.1:{direct_api.port}"],
                        "paredao-consumer": [consumer_target],
                    },
                    interval="1s",
                ) as everything,
            ):
                kafka_only.wait_scraped(2)
                everything.wait_scraped(3)
                asyncio.run(_load([kafka_api.url, direct_api.url], LOAD_S))
                deadline = time.monotonic() + 60
                while lag(engine, kafka) and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(6)  # the consumer samples its lag every 5 s; a few scrapes more
                yield Scraped(kafka_only, everything)
    finally:
        consumer.stop()
        engine.dispose()
        delete_topics(kafka)
        shutil.rmtree(workdir, ignore_errors=True)


def _without_data(answers: list[tuple[Query, list[float]]]) -> list[str]:
    return [f"{q.panel}: {q.promql}" for q, values in answers if not values]


def test_every_process_is_scraped(scraped: Scraped) -> None:
    assert all(scraped.kafka_only.targets_up().values())
    up = scraped.everything.targets_up()
    assert len(up) == 3 and all(up.values()), up


def test_the_kafka_stack_gives_every_panel_data_but_the_direct_writers(scraped: Scraped) -> None:
    answers = ask_dashboard(scraped.kafka_only)
    direct = [(q, v) for q, v in answers if any(m in q.promql for m in DIRECT_ONLY)]
    assert direct, "the dashboard no longer plots the direct path's writer"
    kafka = [(q, v) for q, v in answers if (q, v) not in direct]
    assert kafka and not _without_data(kafka), _without_data(kafka)


def test_every_expression_the_dashboard_plots_returns_data(scraped: Scraped) -> None:
    answers = ask_dashboard(scraped.everything)
    assert len(answers) >= 10
    assert not _without_data(answers), _without_data(answers)


def test_counted_votes_add_up_across_both_paths(scraped: Scraped) -> None:
    """The 'Votes counted, total' stat: the direct API's counted votes plus the consumer's."""
    (total,) = [
        q for q in ask_dashboard(scraped.everything) if q[0].panel == "Votes counted, total"
    ]
    counted = {
        path: sum(float(s["value"][1]) for s in scraped.everything.query(expr))
        for path, expr in (
            ("direct", 'paredao_votes_total{outcome="counted"}'),
            ("kafka", 'paredao_consumer_votes_total{outcome="counted"}'),
        )
    }
    assert counted["direct"] > 0 and counted["kafka"] > 0, counted
    assert total[1] == [counted["direct"] + counted["kafka"]]
