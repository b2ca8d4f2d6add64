"""The paredão catalog while its database cannot be reached (`tests.support.outage`: a SQLite
file moved away, on whichever database the suite runs)."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.engine import make_engine
from db.paredoes import with_cpf_key
from model.ballot import ParedaoInfo
from model.errors import NotFound, Unavailable
from services.catalog import ParedaoCatalog
from services.lifecycle import ParedaoLifecycle
from tests.conftest import Clock
from tests.services.test_lifecycle import ACTOR, _fields, _nominees
from tests.support.outage import MovableDatabase

TTL_S = 1.0
GRACE_S = 60.0


class Monotonic:
    """The catalog's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Database(MovableDatabase):
    """The movable database and the engine the catalog reads it with."""

    def __init__(self, template: Path, folder: Path) -> None:
        super().__init__(template, folder)
        self.engine = with_cpf_key(make_engine(self.url), "test-key")

    def stop(self, engine: Engine | None = None) -> None:
        super().stop(engine or self.engine)


@pytest.fixture
def database(migrated_template: Path, tmp_path: Path) -> Iterator[Database]:
    database = Database(migrated_template, tmp_path / "db")
    yield database
    database.engine.dispose()


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
async def paredao_id(database: Database, clock: Clock) -> int:
    """An open paredão."""
    lifecycle = ParedaoLifecycle(database.engine, clock, caches=(), log_close=None)
    paredao, _ = await lifecycle.create(_fields(_nominees(database.engine, clock), clock), ACTOR)
    assert paredao.id is not None
    await lifecycle.open(paredao.id, ACTOR)
    return paredao.id


def _catalog(database: Database, monotonic: Monotonic, grace_s: float) -> ParedaoCatalog:
    return ParedaoCatalog(database.engine, TTL_S, outage_grace_s=grace_s, monotonic=monotonic)


async def _read_then_stop(
    database: Database, monotonic: Monotonic, paredao_id: int, grace_s: float = GRACE_S
) -> tuple[ParedaoCatalog, ParedaoInfo]:
    """A catalog that read the paredão just before its database became unreachable."""
    catalog = _catalog(database, monotonic, grace_s)
    read = await catalog.get(paredao_id)
    database.stop()
    return catalog, read


class TestTheDatabaseUnreachable:
    async def test_a_paredao_read_within_the_grace_is_answered_as_read(
        self, database: Database, monotonic: Monotonic, paredao_id: int
    ) -> None:
        catalog, read = await _read_then_stop(database, monotonic, paredao_id)
        monotonic.now += 3 * TTL_S  # past the cache's life: this read goes to the database
        assert await catalog.get(paredao_id) == read
        monotonic.now += GRACE_S - 3 * TTL_S  # the last moment of the grace
        assert await catalog.get(paredao_id) == read

    async def test_past_the_grace_it_is_a_503_with_retry_after(
        self, database: Database, monotonic: Monotonic, paredao_id: int
    ) -> None:
        catalog, _ = await _read_then_stop(database, monotonic, paredao_id)
        monotonic.now += GRACE_S + 2 * TTL_S + 0.1  # past the grace, and the cache's life
        with pytest.raises(Unavailable) as refused:
            await catalog.get(paredao_id)
        assert refused.value.headers == {"Retry-After": "1"}

    async def test_a_paredao_never_read_is_a_503(
        self, database: Database, monotonic: Monotonic, paredao_id: int
    ) -> None:
        catalog = _catalog(database, monotonic, GRACE_S)
        database.stop()
        with pytest.raises(Unavailable):
            await catalog.get(paredao_id)

    async def test_without_a_grace_the_direct_path_answers_503(
        self, database: Database, monotonic: Monotonic, paredao_id: int
    ) -> None:
        catalog, _ = await _read_then_stop(database, monotonic, paredao_id, grace_s=0)
        monotonic.now += 3 * TTL_S
        with pytest.raises(Unavailable):
            await catalog.get(paredao_id)

    async def test_a_forgotten_paredao_is_not_kept_for_the_outage(
        self, database: Database, monotonic: Monotonic, paredao_id: int
    ) -> None:
        catalog = _catalog(database, monotonic, GRACE_S)
        await catalog.get(paredao_id)
        catalog.forget(paredao_id)  # its schedule changed: what was read is wrong
        database.stop()
        with pytest.raises(Unavailable):
            await catalog.get(paredao_id)

    async def test_once_the_database_is_back_it_is_read_again(
        self, database: Database, monotonic: Monotonic, paredao_id: int, clock: Clock
    ) -> None:
        catalog, _ = await _read_then_stop(database, monotonic, paredao_id)
        monotonic.now += 3 * TTL_S
        await catalog.get(paredao_id)  # as read before
        database.start()
        later = clock() + timedelta(hours=5)
        lifecycle = ParedaoLifecycle(database.engine, clock, caches=(catalog,), log_close=None)
        await lifecycle.extend(paredao_id, later, ACTOR)
        assert (await catalog.get(paredao_id)).closes_at == later
        # The grace counts from this new read.
        database.stop()
        monotonic.now += GRACE_S
        assert (await catalog.get(paredao_id)).closes_at == later

    async def test_an_unknown_paredao_is_still_a_404(
        self, database: Database, monotonic: Monotonic
    ) -> None:
        catalog = _catalog(database, monotonic, GRACE_S)
        with pytest.raises(NotFound):
            await catalog.get(999)
