"""Fixtures: every test gets its own clean migrated database, a controllable clock and a client.

The database is a SQLite file copied from one migrated by Alembic, or, when the environment
sets `PAREDAO_TEST_DATABASE_URL` (a `postgresql+psycopg://` URL), that PostgreSQL database:
migrated once per session from an empty schema, and emptied after each test. A PostgreSQL
that is named but cannot be reached fails the run: it is never skipped.
"""

import base64
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from altcha.v1 import solve_challenge
from fastapi import FastAPI
from pydantic import SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from config import Settings
from db.engine import make_engine
from db.migrate import upgrade_to_head
from main import create_app
from tests.support.api import ADMIN as ADMIN
from tests.support.api import ADMIN_TOKEN as ADMIN_TOKEN
from tests.support.api import SECRET_KEY as SECRET_KEY
from tests.support.api import application as application
from tests.support.app import running
from tests.support.paredoes import make_housemates as apply_housemates
from tests.support.paredoes import open_paredao_of
from tests.support.server import ROOMY_VOTE_DEADLINE_S

# The shared support's fixtures (`make_server`): loaded after this module, which it imports.
pytest_plugins = ["tests.support.fixtures"]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head by Alembic; each test copies it (migrating is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


POSTGRES_URL = os.environ.get("PAREDAO_TEST_DATABASE_URL") or None
ON_POSTGRES = POSTGRES_URL is not None
skip_on_postgres = pytest.mark.skipif(ON_POSTGRES, reason="inspects the SQLite file itself")
only_on_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="PAREDAO_TEST_DATABASE_URL not set")


def reset_postgres(url: str) -> None:
    """Drop everything in the database's public schema (Alembic migrates it from nothing)."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    except OperationalError as exc:
        pytest.fail(f"PAREDAO_TEST_DATABASE_URL is set but PostgreSQL cannot be used: {exc.orig}")
    finally:
        engine.dispose()


def empty_postgres(url: str) -> None:
    """Remove every row and every per-paredão partition, keeping the migrated schema."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as connection:
            _empty(connection)
    finally:
        engine.dispose()


def _empty(connection: Connection) -> None:
    connection.execute(text("SET lock_timeout = '10s'"))  # a leaked transaction fails loudly
    partitions = connection.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('votes') "
            "AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'"
        )
    ).all()
    if partitions:
        connection.execute(text(f"DROP TABLE {', '.join(partitions)}"))
    tables = connection.scalars(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND c.relname <> 'alembic_version'"
        )
    ).all()
    connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def postgres_database() -> str:
    """The PostgreSQL test database, migrated to head from an empty schema (once a session)."""
    assert POSTGRES_URL is not None
    reset_postgres(POSTGRES_URL)
    upgrade_to_head(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A clean database migrated to head, for this test alone."""
    if not ON_POSTGRES:
        template: Path = request.getfixturevalue("migrated_template")
        path = tmp_path / "paredao.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_database")
    yield url
    empty_postgres(url)


# Every test starts at this moment on its own clock, whatever today's date is.
TEST_NOW = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(TEST_NOW)


class IsolatedSettings(Settings):
    """Settings from the arguments alone: never the developer's `.env` or environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    """The test settings; a test (or its class, or module) marked
    `@pytest.mark.settings(field=value, ...)` gets them with those fields changed."""
    marked = request.node.get_closest_marker("settings")
    base = IsolatedSettings(
        DATABASE_URL=database_url,
        PAREDAO_ADMIN_TOKEN=SecretStr(ADMIN_TOKEN),
        PAREDAO_SECRET_KEY=SecretStr(SECRET_KEY),
        PAREDAO_RESULTS_CACHE_S=0,
        PAREDAO_CAPTCHA_MAX_NUMBER=2000,
        # A writer thread per app: the writer process (the default on a SQLite file) is
        # tested by tests/pipeline/test_writer_process.py and the live-server tests.
        PAREDAO_VOTE_WRITER="thread",
        # Room for a vote on a slow, shared box (production answers 503 after 1.5 s): a test
        # about the deadline sets its own.
        PAREDAO_VOTE_DEADLINE_S=ROOMY_VOTE_DEADLINE_S,
    )
    return base if marked is None else base.model_copy(update=marked.kwargs)


@pytest.fixture
def unreachable_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test settings on a database that cannot be reached (its folder does not exist)."""
    missing = tmp_path / "missing" / "paredao.db"
    return settings.model_copy(update={"database_url": f"sqlite:///{missing}"})


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    yield create_app(settings, clock=clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as c:
        yield c


def years_ago(years: int, days: int = 0) -> str:
    """The date `years` years (plus `days` days) before the tests' clock starts."""
    today = TEST_NOW.date()
    try:
        then = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        then = date(today.year - years, 3, 1)
    return (then + timedelta(days=days)).isoformat()


@pytest.fixture
def make_housemates(client: httpx.AsyncClient) -> Callable[[int], Any]:
    """Apply `n` candidates and promote them to housemates ("Brother 0", "Brother 1", … in
    the order made in this test); returns their ids."""

    made = 0

    async def make(n: int) -> list[int]:
        nonlocal made
        ids = await apply_housemates(client, n, first=made)
        made += n
        return ids

    return make


def cpf(seed: int) -> str:
    """A valid CPF (correct check digits) made from `seed`, masked."""
    base = f"{seed % 10**9:09d}"
    if base == base[0] * 9:
        base = f"{(seed + 1) % 10**9:09d}"
    digits = base
    for size in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits, range(size + 1, 1, -1), strict=True))
        check = total * 10 % 11
        digits += str(0 if check == 10 else check)
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


async def solve_captcha(client: httpx.AsyncClient, paredao_id: int) -> str:
    """Fetch a challenge for a paredão and solve it as a browser would; the token to send with
    a vote in that paredão."""
    r = await client.get("/captcha/challenge", params={"paredao_id": paredao_id})
    assert r.status_code == 200, r.text
    c = r.json()
    solution = solve_challenge(c["challenge"], c["salt"], c["algorithm"], c["maxnumber"])
    assert solution is not None
    payload = {key: c[key] for key in ("algorithm", "challenge", "salt", "signature")}
    payload["number"] = solution.number
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture
def open_paredao(client: httpx.AsyncClient, make_housemates: Callable[[int], Any]) -> Any:
    """Create a paredão of `nominees` housemates (captcha off unless asked) and open it."""

    async def make(nominees: int = 3, **fields: Any) -> dict[str, Any]:
        return await open_paredao_of(client, await make_housemates(nominees), **fields)

    return make


@pytest.fixture
async def paredao(open_paredao: Any) -> dict[str, Any]:
    """An open paredão of two new housemates, captcha off: `open_paredao(2)`."""
    made: dict[str, Any] = await open_paredao(2)
    return made


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that talks to the Kafka broker `kafka` (`-m "not kafka"` leaves them
    out: the shifted-clock run does, since librdkafka hangs under libfaketime)."""
    for item in items:
        if "kafka" in getattr(item, "fixturenames", ()) or "kafka" in item.nodeid:
            item.add_marker(pytest.mark.kafka)
