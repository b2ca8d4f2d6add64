"""The Paredão API: `app` for ASGI servers, and `python main.py` to migrate and serve."""

import gc
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from config import Settings, get_settings
from controllers import candidates, pages, paredoes, votes
from controllers.errors import install_error_handlers
from controllers.fast_votes import FastVotes
from db.engine import make_engine
from db.migrate import upgrade_to_head
from model.base import utcnow
from pipeline.catalog import ParedaoCatalog
from pipeline.group_commit import GroupCommitWriter
from services.results import ResultsReader
from services.voting import VotingService
from views.pages import STATIC_DIR, make_templates

DESCRIPTION = """
Voting for reality-TV elimination rounds ("paredões").

Admin calls need `Authorization: Bearer <PAREDAO_ADMIN_TOKEN>`.
Every error answers `{"error": <code>, "detail": <message>}`.
"""


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    """Build the app; the database engine is created when it starts, not at import."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        writer = GroupCommitWriter(
            engine,
            clock,
            max_batch=settings.vote_batch_max,
            max_wait_s=settings.vote_batch_wait_s,
            queue_size=settings.vote_queue_size,
        )
        app.state.engine = engine
        app.state.writer = writer
        app.state.voting = VotingService(ParedaoCatalog(engine), writer, settings.secret_bytes)
        app.state.results = ResultsReader(engine, clock, ttl_s=settings.results_cache_s)
        await writer.start()
        # Everything made at start lives as long as the process: keep it out of the
        # collector's full passes, which would otherwise pause every request in flight.
        gc.freeze()
        try:
            yield
        finally:
            await writer.stop()  # stop taking votes, store the ones taken
            engine.dispose()

    app = FastAPI(title="Paredão", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = clock
    app.state.templates = make_templates()
    install_error_handlers(app)
    app.add_middleware(FastVotes)
    routers = (
        # The vote page first: it shares `GET /paredoes/{id}` with the API, for browsers only.
        pages.browser,
        pages.public,
        pages.production,
        pages.production_data,
        candidates.router,
        candidates.admin,
        paredoes.router,
        paredoes.admin,
        votes.router,
        votes.admin,
    )
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def ensure_env_file(path: Path = Path(".env")) -> None:
    """On first start, generate the admin token and the secret key into a git-ignored `.env`."""
    settings = get_settings()
    if settings.admin_token is not None and settings.secret_key is not None:
        print("Admin token: PAREDAO_ADMIN_TOKEN (environment or .env)", file=sys.stderr)
        return
    lines = path.read_text().splitlines() if path.exists() else []
    if settings.admin_token is None:
        token = secrets.token_urlsafe(32)
        lines.append(f"PAREDAO_ADMIN_TOKEN={token}")
        print(f"Generated the admin token into {path}: {token}", file=sys.stderr)
    if settings.secret_key is None:
        lines.append(f"PAREDAO_SECRET_KEY={secrets.token_urlsafe(32)}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    get_settings.cache_clear()


def serve() -> None:
    """Migrate the database to the newest schema, then serve the API."""
    ensure_env_file()
    settings = get_settings()
    upgrade_to_head(settings.database_url)
    print(f"Paredão API on http://{settings.host}:{settings.port}/docs", file=sys.stderr)
    uvicorn.run(
        "main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
    )


def __getattr__(name: str) -> FastAPI:
    # `main:app` is built on first access, so that importing this module reads no settings.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)


if __name__ == "__main__":
    serve()
