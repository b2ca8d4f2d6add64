"""The API while its database cannot be reached, without restarting a server: the database is
a SQLite file moved away (`tests.support.outage`), on whichever database the suite runs.

The Kafka path keeps taking votes for an open paredão it read (202 queued; the consumer
decides them once the database is back); everything else it cannot know, and every read, is a
503 with Retry-After in our error shape. The direct path needs the database for each vote: 503.
"""

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from config import KafkaSettings
from services.app_services import app_services
from tests.conftest import Clock
from tests.pipeline.conftest import RunningConsumer
from tests.pipeline.test_kafka_path import decided
from tests.support.api import cast_vote
from tests.support.outage import MovableDatabase
from tests.support.paredoes import make_paredao, nominee_ids

# Past the catalog's cache (about a second, and as long again served while it refreshes): the
# next vote's paredão is read from the database.
CATALOG_EXPIRED_S = 2.2


@pytest.fixture
def movable(migrated_template: Path, tmp_path: Path) -> MovableDatabase:
    return MovableDatabase(migrated_template, tmp_path / "db")


@pytest.fixture
def database_url(movable: MovableDatabase) -> str:
    return movable.url


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert set(r.json()) == {"error", "detail"}, r.text


async def assert_reads_unavailable(client: httpx.AsyncClient, paredao_id: int) -> None:
    """The vote page, and what it reads: the paredão, its results, a vote's status."""
    for path in (
        f"/paredoes/{paredao_id}",
        f"/paredoes/{paredao_id}/results",
        f"/paredoes/{paredao_id}/votes/{uuid.uuid4()}",
    ):
        assert_unavailable(await client.get(path))
    page = await client.get(f"/paredoes/{paredao_id}", headers={"Accept": "text/html"})
    assert page.status_code == 503, page.text  # the vote page itself, an error page
    assert page.headers["retry-after"] == "1"


class TestKafkaPath:
    async def test_votes_go_on_from_the_catalog_and_count_once_the_database_is_back(
        self,
        kafka_client: httpx.AsyncClient,
        kafka_app: FastAPI,
        movable: MovableDatabase,
        database_url: str,
        kafka: KafkaSettings,
        clock: Clock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        p = await make_paredao(kafka_client, 2)
        never_read = await make_paredao(kafka_client, 2)
        nominee = nominee_ids(p)[0]
        before = await cast_vote(kafka_client, p["id"], nominee_id=nominee)
        assert before.status_code == 202, before.text  # the catalog read the paredão

        movable.stop(app_services(kafka_app).engine)
        await asyncio.sleep(CATALOG_EXPIRED_S)
        with caplog.at_level(logging.WARNING, logger="services.catalog"):
            during = [await cast_vote(kafka_client, p["id"], nominee_id=nominee) for _ in range(3)]
        assert [r.status_code for r in during] == [202] * 3, [r.text for r in during]
        assert all(r.json()["status"] == "queued" for r in during)
        assert "served as read before" in caplog.text  # the database was tried, and failed
        body: dict[str, Any] = {"nominee_id": nominee_ids(never_read)[0]}
        assert_unavailable(await cast_vote(kafka_client, never_read["id"], **body))
        await assert_reads_unavailable(kafka_client, p["id"])

        movable.start()
        consumer = RunningConsumer(database_url, kafka, clock)
        try:
            for r in (before, *during):
                counted = await decided(kafka_client, p["id"], r.json()["vote_id"])
                assert counted["status"] == "counted", counted
            results = (await kafka_client.get(f"/paredoes/{p['id']}/results")).json()
            assert results["total_votes"] == 4
        finally:
            await asyncio.to_thread(consumer.close)


class TestDirectPath:
    async def test_a_vote_and_the_reads_are_503_with_retry_after(
        self, client: httpx.AsyncClient, app: FastAPI, movable: MovableDatabase
    ) -> None:
        p = await make_paredao(client, 2)
        nominee = nominee_ids(p)[0]
        r = await cast_vote(client, p["id"], nominee_id=nominee)
        assert r.status_code == 202, r.text
        movable.stop(app_services(app).engine)
        await asyncio.sleep(CATALOG_EXPIRED_S)
        assert_unavailable(await cast_vote(client, p["id"], nominee_id=nominee))
        await assert_reads_unavailable(client, p["id"])
