"""The paredão lifecycle: each change is its own unit of work and makes this worker forget
its cached reads; on the direct path a due paredão is frozen by the lifecycle, and the
results reader, on the Kafka path, only reads."""

from collections.abc import Iterator
from datetime import date, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from db.candidates import create_candidate, update_candidate
from db.engine import make_engine
from db.paredoes import get_paredao, with_cpf_key
from model.candidate import CandidateStatus
from model.paredao import OutcomeKind, ParedaoStatus
from services.lifecycle import ParedaoLifecycle, freeze_if_due
from services.results import ResultsReader
from tests.conftest import Clock
from views.api.paredoes import ParedaoCreate

ACTOR = "admin:0123456789abcdef"  # who changes the paredões (services.audit)


class Forgotten:
    """A cache that remembers what it was told to forget."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def forget(self, paredao_id: int) -> None:
        self.ids.append(paredao_id)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=2)
    yield with_cpf_key(engine, "test-key")
    engine.dispose()


def _nominees(engine: Engine, clock: Clock) -> list[int]:
    ids = []
    with Session(engine, expire_on_commit=False) as session, session.begin():
        for name in ("Ana Lima", "Bia Souza"):
            fields = {
                "name": name,
                "email": f"{name.split()[0].lower()}@example.com",
                "birth_date": date(1990, 1, 1),
                "state": "SP",
                "city": "São Paulo",
            }
            candidate = create_candidate(session, fields, clock())
            session.flush()
            assert candidate.id is not None
            update_candidate(session, candidate.id, {"status": CandidateStatus.housemate}, clock())
            ids.append(candidate.id)
    return ids


def _fields(nominee_ids: list[int], clock: Clock, hours: int = 1) -> dict[str, object]:
    body = ParedaoCreate(
        title="Paredão",
        kind="eliminate",
        nominee_ids=nominee_ids,
        closes_at=clock() + timedelta(hours=hours),
    )
    return body.model_dump()


def _status(engine: Engine, paredao_id: int) -> ParedaoStatus:
    with Session(engine) as session:
        return get_paredao(session, paredao_id)[0].status


class TestDirectPath:
    async def test_each_change_forgets_the_cached_reads_of_its_paredao(
        self, engine: Engine, clock: Clock
    ) -> None:
        caches = (Forgotten(), Forgotten())
        lifecycle = ParedaoLifecycle(engine, clock, caches=caches, log_close=None)
        paredao, _ = await lifecycle.create(_fields(_nominees(engine, clock), clock), ACTOR)
        assert paredao.id is not None
        assert caches[0].ids == []  # nothing was cached of a paredão that did not exist
        opened, _ = await lifecycle.open(paredao.id, ACTOR)
        assert opened.status == ParedaoStatus.open
        extended, _ = await lifecycle.extend(paredao.id, clock() + timedelta(hours=2), ACTOR)
        assert extended.closes_at == clock() + timedelta(hours=2)
        closed, _ = await lifecycle.close(paredao.id, ACTOR)
        assert (closed.status, closed.outcome) == (ParedaoStatus.closed, OutcomeKind.tie)
        assert _status(engine, paredao.id) == ParedaoStatus.closed
        assert all(cache.ids == [paredao.id] * 3 for cache in caches)

    async def test_a_due_paredao_is_frozen_at_its_first_read(
        self, engine: Engine, clock: Clock
    ) -> None:
        lifecycle = ParedaoLifecycle(engine, clock, caches=(), log_close=None)
        paredao, _ = await lifecycle.create(_fields(_nominees(engine, clock), clock), ACTOR)
        assert paredao.id is not None
        await lifecycle.open(paredao.id, ACTOR)
        clock.advance(hours=2)
        reader = ResultsReader(engine, clock, ttl_s=0, freeze_if_due=partial(freeze_if_due, engine))
        results = await reader.results(paredao.id)
        assert results.status == ParedaoStatus.closed
        assert _status(engine, paredao.id) == ParedaoStatus.closed


class TestKafkaPath:
    async def test_close_begins_closing_then_logs_the_close(
        self, engine: Engine, clock: Clock
    ) -> None:
        logged: list[tuple[int, ParedaoStatus]] = []

        async def log_close(paredao_id: int) -> None:
            logged.append((paredao_id, _status(engine, paredao_id)))

        cache = Forgotten()
        lifecycle = ParedaoLifecycle(engine, clock, caches=(cache,), log_close=log_close)
        paredao, _ = await lifecycle.create(_fields(_nominees(engine, clock), clock), ACTOR)
        assert paredao.id is not None
        await lifecycle.open(paredao.id, ACTOR)
        closing, _ = await lifecycle.close(paredao.id, ACTOR)
        assert closing.status == ParedaoStatus.closing
        # The markers go into the log once `closing` is committed; the caches are forgotten
        # before and after (a read in between shows `closing`).
        assert logged == [(paredao.id, ParedaoStatus.closing)]
        assert cache.ids == [paredao.id] * 3

    async def test_the_results_reader_only_reads(self, engine: Engine, clock: Clock) -> None:
        lifecycle = ParedaoLifecycle(engine, clock, caches=(), log_close=None)
        paredao, _ = await lifecycle.create(_fields(_nominees(engine, clock), clock), ACTOR)
        assert paredao.id is not None
        await lifecycle.open(paredao.id, ACTOR)
        clock.advance(hours=2)
        reader = ResultsReader(engine, clock, ttl_s=0, freeze_if_due=None)
        results = await reader.results(paredao.id)
        assert results.status == ParedaoStatus.closing  # ended by its schedule, not frozen
        assert _status(engine, paredao.id) == ParedaoStatus.open

    async def test_the_paredoes_due_begin_their_close_and_no_other(
        self, engine: Engine, clock: Clock
    ) -> None:
        cache = Forgotten()
        lifecycle = ParedaoLifecycle(engine, clock, caches=(cache,), log_close=None)
        nominees = _nominees(engine, clock)
        due, _ = await lifecycle.create(_fields(nominees, clock, hours=1), ACTOR)
        later, _ = await lifecycle.create(_fields(nominees, clock, hours=3), ACTOR)
        assert due.id is not None and later.id is not None
        await lifecycle.open(due.id, ACTOR)
        await lifecycle.open(later.id, ACTOR)
        cache.ids.clear()
        clock.advance(hours=2)
        assert lifecycle.begin_due_closes(clock()) == [due.id]
        assert (_status(engine, due.id), _status(engine, later.id)) == (
            ParedaoStatus.closing,
            ParedaoStatus.open,
        )
        assert cache.ids == [due.id]
        assert lifecycle.begin_due_closes(clock()) == []  # its close has begun: not again
