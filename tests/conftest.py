"""Fixtures: every test gets its own migrated SQLite file, a controllable clock and a client."""

import base64
import json
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

from config import Settings
from db.migrate import upgrade_to_head
from main import create_app

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


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


@pytest.fixture
def database_url(migrated_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "paredao.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 21, 22, 0, tzinfo=UTC))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        PAREDAO_ADMIN_TOKEN=SecretStr(ADMIN_TOKEN),
        PAREDAO_SECRET_KEY=SecretStr("test-secret-key"),
        PAREDAO_RESULTS_CACHE_S=0,
        PAREDAO_CAPTCHA_MAX_NUMBER=2000,
    )


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    yield create_app(settings, clock=clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c,
    ):
        yield c


def application(**overrides: Any) -> dict[str, Any]:
    """A valid application body, with `overrides` applied."""
    body: dict[str, Any] = {
        "name": "Juliette Freire",
        "email": "juliette@example.com",
        "birth_date": "1989-12-03",
        "state": "PB",
        "city": "Campina Grande",
        "bio": "Advogada e maquiadora.",
        "photo_url": "https://example.com/juliette.jpg",
    }
    body.update(overrides)
    return body


def years_ago(years: int, days: int = 0) -> str:
    today = datetime.now(UTC).date()
    try:
        then = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        then = date(today.year - years, 3, 1)
    return (then + timedelta(days=days)).isoformat()


@pytest.fixture
def make_housemates(client: httpx.AsyncClient) -> Callable[[int], Any]:
    """Apply `n` candidates and promote them to housemates; returns their ids."""

    made = 0

    async def make(n: int) -> list[int]:
        nonlocal made
        ids = []
        for i in range(made, made + n):
            r = await client.post(
                "/candidates", json=application(name=f"Brother {i}", email=f"b{i}@example.com")
            )
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
            r = await client.patch(
                f"/candidates/{cid}", json={"status": "housemate"}, headers=ADMIN
            )
            assert r.status_code == 200, r.text
            ids.append(cid)
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


async def solve_captcha(client: httpx.AsyncClient) -> str:
    """Fetch a challenge and solve it as a browser would; the token to send with a vote."""
    r = await client.get("/captcha/challenge")
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
        ids = await make_housemates(nominees)
        body = {
            "title": "Paredão",
            "kind": "eliminate",
            "nominee_ids": ids,
            "require_captcha": False,
        }
        body.update(fields)
        r = await client.post("/paredoes", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        r = await client.post(f"/paredoes/{r.json()['id']}/open", headers=ADMIN)
        assert r.status_code == 200, r.text
        paredao: dict[str, Any] = r.json()
        return paredao

    return make
