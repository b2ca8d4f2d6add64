"""The consumer's message handler on a real database, without a broker: decode → decide →
store, with the offsets in the same transaction."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from db.engine import make_engine, writer_engine
from model.ballot import Ballot, new_vote_id
from model.vote import VoteMode
from pipeline.kafka.codec import CloseMarker, encode_ballot, encode_marker
from pipeline.kafka.handler import BatchReport, Record, handle_batch
from tests.conftest import ADMIN, TEST_NOW

TOPIC = "paredao.votes"


def ballot(paredao_id: int, nominee_id: int, voter: str, **fields: Any) -> Ballot:
    values: dict[str, Any] = {
        "vote_id": new_vote_id(),
        "client_vote_id": False,
        "paredao_id": paredao_id,
        "nominee_id": nominee_id,
        "mode": VoteMode.torcida,
        "voter_id": voter,
        "cpf_hash": None,
        "captcha": None,
        "cast_at": TEST_NOW + timedelta(seconds=1),
    }
    values.update(fields)
    return Ballot(**values)


class Log:
    """Records as they would come out of the votes topic, offsets counting per partition."""

    def __init__(self) -> None:
        self.next: dict[int, int] = {}

    def record(self, value: bytes | None, partition: int = 0) -> Record:
        offset = self.next.get(partition, 0)
        self.next[partition] = offset + 1
        return Record(TOPIC, partition, offset, b"key", value)


@pytest.fixture
def engine(database_url: str) -> Any:
    engine = make_engine(database_url, pool_size=2)
    yield engine
    engine.dispose()


def handle(engine: Engine, records: list[Record]) -> BatchReport:
    with writer_engine(engine).begin() as connection:
        return handle_batch(connection, TOPIC, records, TEST_NOW + timedelta(minutes=5))


def stored(engine: Engine, paredao_id: int) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM votes WHERE paredao_id = :p"), {"p": paredao_id}
            ).scalar_one()
        )


async def test_a_batch_is_stored_once_even_when_read_again(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    p = await open_paredao(2)
    a, b = (n["candidate_id"] for n in p["nominees"])
    log = Log()
    records = [
        log.record(encode_ballot(ballot(p["id"], n, f"v{i}"))) for i, n in enumerate([a, b, a])
    ]
    first = handle(engine, records)
    assert (first.counted, first.skipped, first.next_offsets) == (3, 0, {0: 3})
    # The same records again (a crash between the database commit and Kafka's): fenced off.
    again = handle(engine, records)
    assert (again.counted, again.skipped) == (0, 3)
    assert stored(engine, p["id"]) == 3
    recount = (await client.post(f"/paredoes/{p['id']}/recount", headers=ADMIN)).json()
    assert recount["matches"] is True and recount["tally_total"] == 3


async def test_a_batch_read_partly_again_stores_only_its_new_records(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    """Part of a batch below the fence (partition 0's first three, stored before), the rest
    new, an undecodable record among them: only the new ones count, only they are reported
    dead, and only the partitions they are in move on."""
    p = await open_paredao(2)
    a = p["nominees"][0]["candidate_id"]
    log = Log()
    zero = [log.record(encode_ballot(ballot(p["id"], a, f"v{i}"))) for i in range(5)]
    assert handle(engine, zero[:3]).counted == 3
    one = log.record(b"not a vote", partition=1)
    mixed = handle(engine, [*zero, one])
    assert (mixed.skipped, mixed.counted, len(mixed.dead)) == (3, 2, 1)
    assert mixed.next_offsets == {0: 5, 1: 1}
    # Partition 0 all stored before: it does not move; partition 1's new record does.
    two = log.record(encode_ballot(ballot(p["id"], a, "w")), partition=1)
    late = handle(engine, [*zero, two])
    assert (late.skipped, late.counted, late.dead, late.next_offsets) == (5, 1, [], {1: 2})
    assert stored(engine, p["id"]) == 6


async def test_the_same_vote_logged_twice_counts_once(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    p = await open_paredao(2)
    vote = ballot(p["id"], p["nominees"][0]["candidate_id"], "v")
    log = Log()
    report = handle(engine, [log.record(encode_ballot(vote)), log.record(encode_ballot(vote), 1)])
    assert (report.counted, report.replays) == (1, 1)
    report = handle(engine, [log.record(encode_ballot(vote), 2)])
    assert (report.counted, report.replays) == (0, 1)
    assert stored(engine, p["id"]) == 1


async def test_refusals_are_kept_with_their_reason(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    p = await open_paredao(2, closes_at="2026-11-21T23:00:00Z")
    a = p["nominees"][0]["candidate_id"]
    late = ballot(p["id"], a, "late", cast_at=datetime(2026, 11, 21, 23, 0, tzinfo=UTC))
    burst = [ballot(p["id"], a, "same") for _ in range(11)]
    log = Log()
    report = handle(engine, [log.record(encode_ballot(b)) for b in [late, *burst]])
    assert (report.counted, report.refused) == (10, 2)
    for refused, reason in ((late, "voting_not_open"), (burst[-1], "rate_limited")):
        r = await client.get(f"/paredoes/{p['id']}/votes/{refused.vote_id}")
        assert r.status_code == 200
        assert (r.json()["status"], r.json()["reason"]) == ("refused", reason)
    r = await client.get(f"/paredoes/{p['id']}/votes/{burst[0].vote_id}")
    assert r.json()["status"] == "counted"


async def test_an_undecodable_record_is_reported_and_passed(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    p = await open_paredao(2)
    log = Log()
    good = encode_ballot(ballot(p["id"], p["nominees"][0]["candidate_id"], "v"))
    records = [log.record(value) for value in (b"\xff not json", good, None, b'{"v": 9}')]
    report = handle(engine, records)
    assert report.counted == 1
    assert [r.offset for r, _ in report.dead] == [0, 2, 3]
    assert all(error for _, error in report.dead)
    assert report.next_offsets == {0: 4}  # the group goes on past them


async def test_the_result_freezes_when_every_partition_has_its_marker(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    p = await open_paredao(2)
    a = p["nominees"][0]["candidate_id"]
    with writer_engine(engine).begin() as connection:
        connection.execute(
            text("UPDATE paredoes SET status = 'closing', closes_at = :t WHERE id = :p"),
            {"t": (TEST_NOW + timedelta(minutes=1)).replace(tzinfo=None), "p": p["id"]},
        )
    marker = encode_marker(CloseMarker(p["id"], partitions=2))
    log = Log()
    report = handle(
        engine, [log.record(marker, 0), log.record(encode_ballot(ballot(p["id"], a, "v")), 1)]
    )
    assert report.frozen == [] and report.counted == 1
    assert (await client.get(f"/paredoes/{p['id']}/results")).json()["status"] == "closing"
    report = handle(engine, [log.record(marker, 1)])
    assert report.frozen == [p["id"]]
    results = (await client.get(f"/paredoes/{p['id']}/results")).json()
    assert results["status"] == "closed"
    assert results["outcome"] == {"kind": "eliminated", "candidate_id": a, "tied_candidate_ids": []}


async def test_a_record_naming_no_nominee_of_its_paredao_is_refused(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    # The API never logs one; a record written into the topic by anyone else may.
    p, other = await open_paredao(2), await open_paredao(2)
    stranger = other["nominees"][0]["candidate_id"]
    log = Log()
    report = handle(engine, [log.record(encode_ballot(ballot(p["id"], stranger, "v1")))])
    assert (report.counted, report.refused) == (0, 1)
    assert stored(engine, p["id"]) == 0
    with engine.connect() as connection:
        reason = connection.execute(
            text("SELECT reason, detail FROM vote_refusals WHERE paredao_id = :p"), {"p": p["id"]}
        ).one()
    assert reason.reason == "validation_error"
    assert f"candidate {stranger} is not a nominee of paredão {p['id']}" in reason.detail


async def test_text_with_copy_escapes_is_stored_as_sent(
    engine: Engine, client: httpx.AsyncClient, open_paredao: Any
) -> None:
    # On PostgreSQL a batch travels in COPY's text format, where \\, tab and newline mean
    # something: a voter id (or a captcha) holding them is stored as it was sent.
    p = await open_paredao(2)
    nominee = p["nominees"][0]["candidate_id"]
    voters = ["back\\slash", "tab\tbed", "new\nline", "\\N", "car\rriage"]
    log = Log()
    report = handle(
        engine, [log.record(encode_ballot(ballot(p["id"], nominee, v))) for v in voters]
    )
    assert report.counted == len(voters)
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT voter_id FROM votes WHERE paredao_id = :p"), {"p": p["id"]}
        ).scalars()
        assert sorted(stored) == sorted(voters)


class TestAServerVoteIdLoggedAgain:
    """A vote_id the API chose is not looked up before its batch is decided (the log holds it
    once); should it be logged twice all the same, the stored vote is found on the way and the
    batch is decided again as if it had been: a replay, never a refusal, and never a place
    taken in its voter's window."""

    @staticmethod
    def counted(engine: Engine, p: dict[str, Any], votes: int, log: Log) -> list[Ballot]:
        """`votes` of one fan a second apart, handled and counted."""
        a = p["nominees"][0]["candidate_id"]
        fan = [
            ballot(p["id"], a, "fan", cast_at=TEST_NOW + timedelta(seconds=s)) for s in range(votes)
        ]
        assert handle(engine, [log.record(encode_ballot(b)) for b in fan]).counted == votes
        return fan

    async def test_its_replay_takes_no_place_in_the_window(
        self, engine: Engine, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(2)
        a = p["nominees"][0]["candidate_id"]
        log = Log()
        nine = self.counted(engine, p, 9, log)
        tenth = ballot(p["id"], a, "fan", cast_at=TEST_NOW + timedelta(seconds=20))
        report = handle(
            engine, [log.record(encode_ballot(nine[0])), log.record(encode_ballot(tenth))]
        )
        assert (report.counted, report.replays, report.refused) == (1, 1, 0)
        assert stored(engine, p["id"]) == 10

    async def test_its_replay_is_not_refused(
        self, engine: Engine, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(2)
        log = Log()
        ten = self.counted(engine, p, 10, log)
        # Judged as new, the window (full) would refuse it: it is the first vote, stored.
        report = handle(engine, [log.record(encode_ballot(ten[0]))])
        assert (report.counted, report.replays, report.refused) == (0, 1, 0)
        r = await client.get(f"/paredoes/{p['id']}/votes/{ten[0].vote_id}")
        assert r.json()["status"] == "counted"
        with engine.connect() as connection:
            refusals = connection.execute(
                text("SELECT count(*) FROM vote_refusals WHERE paredao_id = :p"), {"p": p["id"]}
            ).scalar_one()
        assert refusals == 0
