"""Fault drill: the consumer keeps the torcida limit in memory (`db.torcida.PartitionWindows`);
killed with kill -9 in the middle of a batch while voters are at their limit, the next
consumer rebuilds each voter's window from the stored votes. After the restart no voter has an
11th counted vote within a minute, and no vote within the limit is refused. Real broker, real
database, `python main.py consumer` processes."""

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from config import KafkaSettings
from db.engine import make_engine
from model.ratelimit import TORCIDA_LIMIT
from tests.conftest import Clock
from tests.pipeline.drills import eventually, stored_votes, total_lag
from tests.support.api import ADMIN
from tests.support.consumer import ConsumerProcess
from tests.support.paredoes import make_paredao, nominee_ids

pytestmark = pytest.mark.kafka
VOTERS = 60
VOTES_EACH = TORCIDA_LIMIT + 5  # one a second: the last 5 of each voter fall in the same minute


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=1)
    yield engine
    engine.dispose()


@pytest.fixture
def consumers() -> Iterator[list[ConsumerProcess]]:
    started: list[ConsumerProcess] = []
    yield started
    for member in started:
        member.close()


def counted_by_voter(engine: Engine, paredao_id: int) -> Counter[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT voter_id, count(*) FROM votes WHERE paredao_id = :p GROUP BY voter_id"),
            {"p": paredao_id},
        )
        return Counter({str(v): int(c) for v, c in rows})


def refused_by_reason(engine: Engine, paredao_id: int) -> Counter[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT reason, count(*) FROM vote_refusals WHERE paredao_id = :p GROUP BY reason"
            ),
            {"p": paredao_id},
        )
        return Counter({str(r): int(c) for r, c in rows})


@pytest.mark.timeout(600)
async def test_a_consumer_killed_while_voters_are_at_their_limit_keeps_the_limit_exact(
    kafka_client: httpx.AsyncClient,
    kafka: KafkaSettings,
    database_url: str,
    clock: Clock,
    engine: Engine,
    consumers: list[ConsumerProcess],
    tmp_path: Path,
) -> None:
    p = await make_paredao(kafka_client, 2)
    nominee = nominee_ids(p)[0]
    # Every voter votes once a second, VOTES_EACH times: the first TORCIDA_LIMIT count, the
    # rest fall inside the same minute and are refused, whoever decides them.
    acked = 0
    for _ in range(VOTES_EACH):
        for v in range(VOTERS):
            r = await kafka_client.post(
                f"/paredoes/{p['id']}/votes",
                json={
                    "nominee_id": nominee,
                    "mode": "torcida",
                    "voter_id": f"fan-{v}",
                    "vote_id": str(uuid.uuid4()),
                },
            )
            assert r.status_code == 202, r.text
            acked += 1
        clock.advance(seconds=1)
    total = VOTERS * VOTES_EACH

    # Batches of 2: hundreds of transactions, so the kill lands in one while the voters are
    # part-way to their limit, however busy the machine.
    first = ConsumerProcess(database_url, kafka, tmp_path, "first", batch_max=2)
    consumers.append(first)

    def killed_mid_batch() -> bool:
        stored = stored_votes(engine, p["id"])
        if total // 10 <= stored and first.in_write_transaction():
            first.kill()
            return True
        return False

    await eventually(killed_mid_batch, 300, "the first consumer in the middle of a batch")
    stored_at_kill = stored_votes(engine, p["id"])
    assert stored_at_kill < VOTERS * TORCIDA_LIMIT, "killed before the voters reached the limit"

    second = ConsumerProcess(database_url, kafka, tmp_path, "second", batch_max=25)
    consumers.append(second)
    await eventually(lambda: total_lag(engine, kafka) == 0, 300, "the second consumer's lag at 0")

    counted = counted_by_voter(engine, p["id"])
    assert counted == Counter({f"fan-{v}": TORCIDA_LIMIT for v in range(VOTERS)}), counted
    assert refused_by_reason(engine, p["id"]) == Counter(
        {"rate_limited": VOTERS * (VOTES_EACH - TORCIDA_LIMIT)}
    )
    r = await kafka_client.post(f"/paredoes/{p['id']}/recount", headers=ADMIN)
    assert r.status_code == 200 and r.json()["matches"], r.text
    assert acked == total
    stats = second.stop()
    assert stats["counted"] == VOTERS * TORCIDA_LIMIT - stored_at_kill, stats
