"""The consumer keeps the torcida limit in memory (`PartitionWindows`): whatever it forgets
(a restart, a partition assigned again, a batch rolled back) it rebuilds from the stored
votes, so no voter gets an 11th counted vote in a minute and no vote within the limit is
refused. Real database, no broker."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from db.engine import make_engine, writer_engine
from db.torcida import PartitionWindows
from model.ratelimit import TORCIDA_LIMIT
from pipeline.kafka.codec import encode_ballot
from pipeline.kafka.handler import BatchReport, Record, handle_batch
from tests.conftest import TEST_NOW
from tests.pipeline.test_vote_handler import TOPIC, Log, ballot


@pytest.fixture
def engine(database_url: str) -> Any:
    engine = make_engine(database_url, pool_size=2)
    yield engine
    engine.dispose()


def handle(engine: Engine, records: list[Record], windows: PartitionWindows) -> BatchReport:
    with writer_engine(engine).begin() as connection:
        return handle_batch(connection, TOPIC, records, TEST_NOW + timedelta(hours=1), windows)


def votes(
    log: Log, paredao_id: int, nominee: int, voter: str, seconds: list[float]
) -> list[Record]:
    return [
        log.record(
            encode_ballot(
                ballot(paredao_id, nominee, voter, cast_at=TEST_NOW + timedelta(seconds=s))
            )
        )
        for s in seconds
    ]


@dataclass
class Fan:
    """An open paredão, its first nominee and the log of records for it."""

    paredao_id: int
    nominee: int
    log: Log

    def votes(self, seconds: list[float], voter: str = "fan") -> list[Record]:
        """`voter`'s votes for the nominee, cast `seconds` after the test's now."""
        return votes(self.log, self.paredao_id, self.nominee, voter, seconds)


@pytest.fixture
async def fan(client: httpx.AsyncClient, open_paredao: Any) -> Fan:
    p = await open_paredao(2)
    return Fan(p["id"], p["nominees"][0]["candidate_id"], Log())


async def test_a_new_process_rebuilds_the_window_from_the_stored_votes(
    engine: Engine, fan: Fan
) -> None:
    first = handle(engine, fan.votes([1, 2, 3, 4, 5, 6, 7]), PartitionWindows())
    assert (first.counted, first.refused) == (7, 0)
    # Another process (a restart, a rebalance): it knows nothing of the first 7.
    again = PartitionWindows()
    second = handle(engine, fan.votes([20, 30, 40, 50, 61.5]), again)
    # 3 more fit in the minute [1 s, 61 s); the 11th at 50 s is refused; at 61.5 s the vote
    # at 1 s has left the window.
    assert (second.counted, second.refused) == (4, 1)
    # The same process goes on with its memory: its window holds what it stored.
    third = handle(engine, fan.votes([62.5, 63.5]), again)
    assert (third.counted, third.refused) == (2, 0)
    # At 63.9 s the minute (3.9 s, 63.9 s] holds 10 counted votes: 4..7, 20, 30, 40, 61.5..63.5.
    fourth = handle(engine, fan.votes([63.9]), again)
    assert (fourth.counted, fourth.refused) == (0, 1)


async def test_a_batch_rolled_back_is_forgotten_then_counted_once(engine: Engine, fan: Fan) -> None:
    records = fan.votes([float(s) for s in range(1, TORCIDA_LIMIT + 1)])
    windows = PartitionWindows()
    with (
        pytest.raises(RuntimeError, match="database went away"),
        writer_engine(engine).begin() as connection,
    ):
        report = handle_batch(connection, TOPIC, records, TEST_NOW, windows)
        assert report.counted == TORCIDA_LIMIT
        raise RuntimeError("the database went away before the commit")
    # What the consumer does when a batch does not commit: forget, and read the batch again.
    windows.forget()
    retried = handle(engine, records, windows)
    assert (retried.counted, retried.refused) == (TORCIDA_LIMIT, 0)
    over = handle(engine, fan.votes([30]), windows)
    assert (over.counted, over.refused) == (0, 1)


async def test_windows_of_different_voters_and_paredoes_are_apart(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    p, q = await open_paredao(2), await open_paredao(2)
    a, b = p["nominees"][0]["candidate_id"], q["nominees"][0]["candidate_id"]
    log = Log()
    windows = PartitionWindows()
    seconds = [float(s) for s in range(1, TORCIDA_LIMIT + 2)]
    report = handle(
        engine,
        votes(log, p["id"], a, "fan", seconds)
        + votes(log, q["id"], b, "fan", seconds)
        + votes(log, p["id"], a, "other", seconds),
        windows,
    )
    assert (report.counted, report.refused) == (3 * TORCIDA_LIMIT, 3)


async def test_a_vote_older_than_what_memory_kept_rebuilds_it(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory keeps one voter at most: every batch prunes, and a lagging partition's older
    # vote must read its window from the database again, not from what memory dropped.
    monkeypatch.setattr("db.torcida.MAX_VOTERS", 1)
    monkeypatch.setattr("db.torcida.KEEP", timedelta(seconds=1))
    p = await open_paredao(2)
    nominee = p["nominees"][0]["candidate_id"]
    log = Log()
    windows = PartitionWindows()
    seconds = [float(s) for s in range(1, TORCIDA_LIMIT + 1)]
    first = handle(engine, votes(log, p["id"], nominee, "lagging", seconds), windows)
    later = handle(engine, votes(log, p["id"], nominee, "ahead", [300, 301]), windows)
    assert (first.counted, later.counted) == (TORCIDA_LIMIT, 2)
    loads = windows.loads
    late = handle(engine, votes(log, p["id"], nominee, "lagging", [30]), windows)
    assert (late.counted, late.refused) == (0, 1)
    assert windows.loads == loads + 1


async def test_a_partition_taken_over_is_read_after_its_last_owner_committed(
    engine: Engine, fan: Fan
) -> None:
    """A rebalance hands partition 4 over while its last owner still stores a batch of it.
    The new owner's windows, built on an earlier batch of its other partitions, lack that
    batch; the first batch it stores of partition 4 reads the windows again once its fence
    holds the partition (the last owner has committed): the 11th vote is refused."""
    ours = PartitionWindows()
    before = handle(engine, [fan.log.record(r.value, partition=0) for r in fan.votes([1])], ours)
    assert before.counted == 1  # the windows of this paredão are built, without partition 4
    # The last owner commits its batch of partition 4: the fan's limit in the minute.
    theirs = fan.votes([2, 3, 4, 5, 6, 7, 8, 9, 10, 11], voter="fan4")
    taken = handle(
        engine, [fan.log.record(r.value, partition=4) for r in theirs], PartitionWindows()
    )
    assert taken.counted == TORCIDA_LIMIT
    # The new owner's first batch of partition 4: the 11th vote in the minute.
    eleventh = [fan.log.record(r.value, partition=4) for r in fan.votes([12], voter="fan4")]
    after = handle(engine, eleventh, ours)
    assert (after.counted, after.refused) == (0, 1)


async def test_a_batch_read_before_its_partition_moved_reads_what_the_other_stored(
    engine: Engine, fan: Fan
) -> None:
    """A consumer stores 5 of a fan's votes, loses the partition in a rebalance while it holds
    a batch read before (the next 6 records), and the new owner stores the first 5 of those.
    The first consumer's batch is fenced up to them, and its windows read again: the 11th
    vote is refused."""
    first = PartitionWindows()
    records = fan.votes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    assert handle(engine, records[:5], first).counted == 5
    assert handle(engine, records[5:10], PartitionWindows()).counted == 5  # the new owner
    late = handle(engine, records[5:], first)
    assert (late.skipped, late.counted, late.refused) == (5, 0, 1)
