"""Probes: alive without I/O, ready only with a usable database, and not ready once draining."""

from pathlib import Path

import httpx
from fastapi import FastAPI

from config import Settings
from main import create_app
from tests.conftest import Clock
from tests.support.app import asgi_client, running, serving


class TestHealthz:
    async def test_alive(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/healthz")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}

    async def test_alive_without_a_database(
        self, unreachable_settings: Settings, clock: Clock
    ) -> None:
        """Liveness makes no round trip: a database outage never restarts a healthy process."""
        async with serving(unreachable_settings, clock) as http:
            assert (await http.get("/healthz")).status_code == 200
            r = await http.get("/readyz")
        assert r.status_code == 503
        assert r.json() == {"error": "not_ready", "detail": "database: unreachable"}
        assert r.headers["Retry-After"] == "1"


class TestReadyz:
    async def test_ready_with_a_migrated_database(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {"status": "ready", "checks": {"database": "ok"}}

    async def test_not_ready_before_the_migration(
        self, settings: Settings, clock: Clock, tmp_path: Path
    ) -> None:
        empty = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/empty.db"})
        app = create_app(empty, clock=clock)
        async with running(app) as http:
            r = await http.get("/readyz")
        assert r.status_code == 503
        assert r.json()["detail"] == "database: not migrated"

    async def test_not_ready_once_shutting_down(self, app: FastAPI) -> None:
        async with asgi_client(app) as http:
            async with app.router.lifespan_context(app):
                assert (await http.get("/readyz")).status_code == 200
            # The lifespan's shutdown began (stop taking votes, drain): no more traffic here.
            r = await http.get("/readyz")
        assert r.status_code == 503
        assert r.json()["detail"] == "server: draining: shutting down"
