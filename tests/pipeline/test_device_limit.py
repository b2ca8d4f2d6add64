"""The consumer's handler applies the votos únicos per device (PAREDAO_UNICO_PER_DEVICE) as the
direct path does, without a broker: the stored ones and those earlier in the batch, in order,
and a refusal kept with its reason."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from db.engine import make_engine, writer_engine
from model.ballot import Ballot
from model.vote import VoteMode
from pipeline.kafka.codec import encode_ballot
from pipeline.kafka.handler import BatchReport, handle_batch
from tests.conftest import ADMIN, TEST_NOW
from tests.pipeline.test_vote_handler import TOPIC, Log, ballot


@pytest.fixture
def engine(database_url: str) -> Any:
    engine = make_engine(database_url, pool_size=2)
    yield engine
    engine.dispose()


def handle(engine: Engine, log: Log, ballots: list[Ballot], limit: int | None) -> BatchReport:
    records = [log.record(encode_ballot(b)) for b in ballots]
    with writer_engine(engine).begin() as connection:
        return handle_batch(
            connection, TOPIC, records, TEST_NOW + timedelta(minutes=5), unico_per_device=limit
        )


def unico(paredao: dict[str, Any], voter: str, cpf_hash: str, seconds: int = 1) -> Ballot:
    return ballot(
        paredao["id"],
        paredao["nominees"][0]["candidate_id"],
        voter,
        mode=VoteMode.unico,
        cpf_hash=cpf_hash,
        cast_at=TEST_NOW + timedelta(seconds=seconds),
    )


async def status(client: httpx.AsyncClient, vote: Ballot) -> tuple[str, str | None]:
    r = await client.get(f"/paredoes/{vote.paredao_id}/votes/{vote.vote_id}")
    assert r.status_code == 200, r.text
    return r.json()["status"], r.json().get("reason")


@pytest.mark.parametrize("limit", [1, 2])
async def test_a_device_casts_its_limit_in_one_batch_and_after(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any, limit: int
) -> None:
    p = await open_paredao(2)
    log = Log()
    burst = [unico(p, "bot", f"cpf-{i}", seconds=i + 1) for i in range(4)]
    report = handle(engine, log, burst, limit)
    assert (report.counted, report.refused) == (limit, 4 - limit)
    # In order: the first `limit` count, the rest are refused with the device's reason.
    assert [await status(client, b) for b in burst] == [("counted", None)] * limit + [
        ("refused", "device_already_voted")
    ] * (4 - limit)
    # A later batch counts the stored ones; another device is not bound by them.
    later = [unico(p, "bot", "cpf-late", 10), unico(p, "other", "cpf-other", 10)]
    report = handle(engine, log, later, limit)
    assert (report.counted, report.refused) == (1, 1)
    assert await status(client, later[0]) == ("refused", "device_already_voted")
    recount = (await client.post(f"/paredoes/{p['id']}/recount", headers=ADMIN)).json()
    assert recount["matches"] is True and recount["tally_total"] == limit + 1


async def test_a_vote_refused_for_its_cpf_leaves_the_device_room(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    p = await open_paredao(2)
    log = Log()
    handle(engine, log, [unico(p, "owner", "taken")], 1)
    # One batch: the device's first vote reuses a CPF that voted, its second is its own.
    again, own = unico(p, "phone", "taken", 2), unico(p, "phone", "fresh", 3)
    report = handle(engine, log, [again, own], 1)
    assert (report.counted, report.refused) == (1, 1)
    assert await status(client, again) == ("refused", "cpf_already_voted")
    assert await status(client, own) == ("counted", None)


async def test_the_same_vote_logged_twice_is_a_replay_not_a_second_vote(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    p = await open_paredao(2)
    log = Log()
    vote = unico(p, "phone", "cpf-1")
    report = handle(engine, log, [vote, vote], 1)
    assert (report.counted, report.replays, report.refused) == (1, 1, 0)
    report = handle(engine, log, [vote], 1)
    assert (report.counted, report.replays, report.refused) == (0, 1, 0)


async def test_without_a_limit_a_device_casts_any_number(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    # jwt mode passes no limit: the account's unique index binds a voto único there.
    p = await open_paredao(2)
    report = handle(engine, Log(), [unico(p, "bot", f"cpf-{i}", i + 1) for i in range(3)], None)
    assert (report.counted, report.refused) == (3, 0)
