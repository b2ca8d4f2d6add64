"""Housekeeping: expired captcha spends, idle torcida budgets and ended sessions are pruned
(by `python main.py prune` and on a timer in the app); nothing that can still decide a vote
or a session is."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

import config
import main
from config import Settings
from db.engine import make_engine
from db.housekeeping import BATCH, prune
from db.sessions import REVOKED
from db.votes import BUDGETS, SPENT
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, TEST_NOW

MARGIN = timedelta(hours=1)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=1)
    yield engine
    engine.dispose()


def fill(engine: Engine, now: datetime, idle_budgets: int = 3) -> None:
    """Rows around `now`: each kind has some past use (and margin) and some not."""
    window = timedelta(minutes=1)
    with engine.begin() as connection:
        connection.execute(
            SPENT.insert(),
            [
                {"challenge": "expired-long-ago", "expires_at": now - MARGIN - timedelta(1)},
                {"challenge": "expired-within-margin", "expires_at": now - MARGIN / 2},
                {"challenge": "not-expired", "expires_at": now + timedelta(minutes=2)},
            ],
        )
        idle = ms(now - MARGIN - window - timedelta(seconds=1))
        connection.execute(
            BUDGETS.insert(),
            [
                {"paredao_id": 1, "voter_id": f"idle-{i}", "recent": f"{idle - 5000},{idle}"}
                for i in range(idle_budgets)
            ]
            + [
                {"paredao_id": 1, "voter_id": "empty", "recent": ""},
                {"paredao_id": 1, "voter_id": "recent", "recent": f"{idle},{ms(now)}"},
                {"paredao_id": 2, "voter_id": "within-margin", "recent": str(ms(now - MARGIN))},
            ],
        )
        connection.execute(
            REVOKED.insert(),
            [
                {"session_id": "ended", "expires_at": now - timedelta(seconds=1)},
                {"session_id": "still-revoked", "expires_at": now + timedelta(hours=1)},
            ],
        )


def left(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as connection:
        return {
            "spent": sorted(connection.scalars(text("SELECT challenge FROM spent_captchas"))),
            "budgets": sorted(connection.scalars(text("SELECT voter_id FROM torcida_budgets"))),
            "sessions": sorted(connection.scalars(text("SELECT session_id FROM revoked_sessions"))),
        }


KEPT = {
    "spent": ["expired-within-margin", "not-expired"],
    "budgets": ["recent", "within-margin"],
    "sessions": ["still-revoked"],
}


class TestPrune:
    def test_drops_only_what_can_no_longer_decide_anything(self, engine: Engine) -> None:
        fill(engine, TEST_NOW, idle_budgets=BATCH + 7)  # more than one batch
        pruned = prune(engine, TEST_NOW, MARGIN)
        assert (pruned.spent_captchas, pruned.torcida_budgets, pruned.revoked_sessions) == (
            1,
            BATCH + 8,
            1,
        )
        assert left(engine) == KEPT
        assert prune(engine, TEST_NOW, MARGIN).torcida_budgets == 0  # nothing left to do

    def test_the_command(
        self,
        engine: Engine,
        database_url: str,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        # The command reads the wall clock: rows long past and far ahead, whatever today is.
        fill(engine, datetime(2001, 1, 1, tzinfo=UTC))
        far = datetime(2999, 1, 1, tzinfo=UTC)
        with engine.begin() as connection:
            connection.execute(SPENT.insert(), [{"challenge": "far", "expires_at": far}])
            connection.execute(REVOKED.insert(), [{"session_id": "far", "expires_at": far}])
        monkeypatch.chdir(tmp_path)  # no .env here
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("PAREDAO_ADMIN_TOKEN", ADMIN_TOKEN)
        monkeypatch.setenv("PAREDAO_SECRET_KEY", SECRET_KEY)
        config.get_settings.cache_clear()
        try:
            main.main(["prune"])
        finally:
            config.get_settings.cache_clear()
        assert left(engine) == {"spent": ["far"], "budgets": [], "sessions": ["far"]}
        assert "Pruned 3 spent captchas, 6 idle torcida budgets, 2 ended sessions" in (
            capsys.readouterr().err
        )


class TestOnATimer:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={"prune_interval_s": 0.05, "prune_margin_s": MARGIN.total_seconds()}
        )

    async def test_the_app_prunes_while_it_runs(self, app: FastAPI, engine: Engine) -> None:
        fill(engine, TEST_NOW)
        async with app.router.lifespan_context(app):
            for _ in range(100):
                if left(engine) == KEPT:
                    break
                await asyncio.sleep(0.05)
        assert left(engine) == KEPT
