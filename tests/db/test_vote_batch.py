"""The vote batch judges each ballot at the moment it was cast, however late it is written."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from db.engine import make_engine, writer_engine
from db.results import hourly_of
from db.votes import write_batch
from model.ballot import Accepted, Ballot, new_vote_id
from model.errors import CPFAlreadyVoted, DeviceAlreadyVoted, VotingNotOpen
from model.vote import VoteMode
from tests.conftest import ADMIN, only_on_postgres

OPENS_AT = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)  # the tests' clock, when it is opened
CLOSES_AT = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


def ballot(paredao_id: int, nominee_id: int, cast_at: datetime, voter: str = "v") -> Ballot:
    return Ballot(
        vote_id=new_vote_id(),
        client_vote_id=False,
        paredao_id=paredao_id,
        nominee_id=nominee_id,
        mode=VoteMode.torcida,
        voter_id=voter,
        cpf_hash=None,
        captcha=None,
        cast_at=cast_at,
    )


def write(engine: Engine, ballots: list[Ballot]) -> list[Any]:
    with writer_engine(engine).begin() as connection:
        return write_batch(connection, ballots)


def second_waits(engine: Engine, first: list[Ballot], second: list[Ballot], why: str) -> list[Any]:
    """`second` written by another writer while `first`'s transaction is open (PAREDAO_UNICO_
    PER_DEVICE=1): it must wait for `first`'s commit; its answers."""
    answers: list[Any] = []
    with engine.begin() as holder:
        assert all(isinstance(o, Accepted) for o in write_batch(holder, first, unico_per_device=1))

        def concurrently() -> None:
            with engine.begin() as connection:
                answers.extend(write_batch(connection, second, unico_per_device=1))

        racer = threading.Thread(target=concurrently)
        racer.start()
        racer.join(0.5)
        assert racer.is_alive(), why
    racer.join(10)
    assert not racer.is_alive()
    return answers


async def test_window_and_hour_come_from_cast_at(
    client: httpx.AsyncClient, open_paredao: Any, database_url: str
) -> None:
    p = await open_paredao(2, closes_at=CLOSES_AT.isoformat())
    nominee = p["nominees"][0]["candidate_id"]
    engine = make_engine(database_url)
    try:
        before = ballot(p["id"], nominee, CLOSES_AT - timedelta(seconds=1), "early")
        at_close = ballot(p["id"], nominee, CLOSES_AT, "late")
        earlier_hour = ballot(p["id"], nominee, CLOSES_AT - timedelta(minutes=90), "first")
        too_early = ballot(p["id"], nominee, OPENS_AT - timedelta(seconds=1), "eager")
        # Written together, in one batch, with no notion of "now": each by its own cast_at.
        outcomes = write(engine, [before, at_close, earlier_hour, too_early])
        assert isinstance(outcomes[0], Accepted)
        assert outcomes[0].accepted_at == before.cast_at
        assert isinstance(outcomes[1], VotingNotOpen)
        assert isinstance(outcomes[2], Accepted)
        assert isinstance(outcomes[3], VotingNotOpen)
        with Session(engine) as session:
            hourly = hourly_of(session, p["id"])
        assert [(h, votes) for h, _, votes in hourly] == [
            (datetime(2026, 11, 21, 22, 0, tzinfo=UTC), 1),
            (datetime(2026, 11, 21, 23, 0, tzinfo=UTC), 1),
        ]
    finally:
        engine.dispose()
    recount = (await client.post(f"/paredoes/{p['id']}/recount", headers=ADMIN)).json()
    assert recount["matches"] is True
    assert recount["tally_total"] == 2


@only_on_postgres
async def test_concurrent_batches_of_one_device_store_its_limit(
    client: httpx.AsyncClient, open_paredao: Any, database_url: str
) -> None:
    """Two writers, each with a voto único of one device: the second waits for the first's
    commit and counts its vote (PAREDAO_UNICO_PER_DEVICE=1), never both stored."""
    p = await open_paredao(2)
    first = ballot(p["id"], p["nominees"][0]["candidate_id"], OPENS_AT, "phone")
    first = first._replace(mode=VoteMode.unico, cpf_hash="a" * 64)
    second = first._replace(vote_id=new_vote_id(), cpf_hash="b" * 64)
    engine = make_engine(database_url, pool_size=2)
    try:
        answers = second_waits(
            engine, [first], [second], "the second writer waits for the first's device lock"
        )
    finally:
        engine.dispose()
    assert len(answers) == 1 and isinstance(answers[0], DeviceAlreadyVoted)


@only_on_postgres
async def test_concurrent_batches_with_one_cpf_count_it_once(
    client: httpx.AsyncClient, open_paredao: Any, database_url: str
) -> None:
    """Two writers, each with a voto único of one CPF from different devices: neither sees
    the other's when it looks, the second's COPY waits on the unique index and fails when the
    first commits, and its batch goes in again row by row: the CPF counted once, the others
    of the batch counted too."""
    p = await open_paredao(2)
    nominee = p["nominees"][0]["candidate_id"]
    first = ballot(p["id"], nominee, OPENS_AT, "phone")._replace(
        mode=VoteMode.unico, cpf_hash="c" * 64
    )
    again = ballot(p["id"], nominee, OPENS_AT, "tablet")._replace(
        mode=VoteMode.unico, cpf_hash="c" * 64
    )
    fan = ballot(p["id"], nominee, OPENS_AT, "fan")
    engine = make_engine(database_url, pool_size=2)
    try:
        answers = second_waits(
            engine, [first], [fan, again], "the second writer waits on the CPF's unique index"
        )
        with Session(engine) as session:
            hourly = hourly_of(session, p["id"])
    finally:
        engine.dispose()
    assert isinstance(answers[0], Accepted) and isinstance(answers[1], CPFAlreadyVoted)
    assert sum(votes for _, _, votes in hourly) == 2
