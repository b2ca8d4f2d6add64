"""The Paredão app: `create_app` builds it (routes, middlewares, error handlers) and its
lifespan, which makes the app's services (`services.app_services.AppServices`) when it starts
and stops them when it ends. `main.py` is the command line."""

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, make_url
from starlette.types import ASGIApp

from config import Settings, get_settings
from controllers import (
    audit,
    candidates,
    captcha,
    certificates,
    health,
    pages,
    paredoes,
    production,
    production_session,
    telemetry,
    votes,
)
from controllers.docs import install_docs
from controllers.errors import install_error_handlers
from controllers.guards import Bounds, install_guards
from controllers.vote_door import VoteDoor
from db.engine import make_engine
from db.paredoes import with_cpf_key
from model.certificate import CertificateKeys
from model.clock import Clock, system_clock
from observability import metrics
from observability.logs import forget_in_logs
from pipeline.sink import VoteSink
from pipeline.writer.client import WriterClient
from pipeline.writer.group_commit import GroupCommitWriter
from pipeline.writer.process import socket_path
from services.app_services import AppServices
from services.catalog import ParedaoCatalog
from services.certificates import CertificateService
from services.difficulty import CaptchaDifficulty
from services.health import Readiness
from services.housekeeping import Housekeeper
from services.identity import VoterTokens
from services.lifecycle import LogClose, ParedaoLifecycle, freeze_if_due
from services.replay import ReplayService
from services.results import ResultsReader
from services.throttle import AddressThrottle
from services.voting import VotingService
from views.web.rendering import STATIC_DIR, make_templates

DESCRIPTION = """
Voting for reality-TV elimination rounds ("paredões").

Admin calls need `Authorization: Bearer <PAREDAO_ADMIN_TOKEN>`.
Every error answers `{"error": <code>, "detail": <message>}`.
"""


class Paredao(FastAPI):
    """FastAPI with the vote door in front of its whole middleware stack: the votes of the
    burst are served there (`controllers.vote_door`), every other request goes through."""

    bounds: Bounds | None = None  # the guards' bounds, which the door shares

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.bounds is None else VoteDoor(stack, self.bounds)


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> FastAPI:
    """Build the app; the database engine and the vote sink are created when it starts, not
    here. Every time the app reads comes from `clock` (tests pass one they move by hand)."""
    settings = settings or get_settings()
    # Made once per app (they outlive a restart of its lifespan); the rest when it starts.
    challenge_throttle = AddressThrottle(settings.captcha_per_minute)
    captcha_difficulty = CaptchaDifficulty(
        settings.captcha_max_number,
        raise_above_per_s=settings.captcha_raise_above_per_s,
        max_doublings=settings.captcha_max_doublings,
        window_s=settings.captcha_rate_window_s,
    )
    templates = make_templates()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, busy_timeout_s=settings.db_busy_timeout_s)
        sink, log_close, broker_check = vote_sink(settings, engine)
        keyed = with_cpf_key(engine, settings.keys.cpf_key_id)  # for new paredões
        voting = VotingService(
            ParedaoCatalog(
                engine,
                outage_grace_s=settings.kafka_outage_grace_s if settings.ingest == "kafka" else 0,
            ),
            sink,
            settings.keys,
            engine,
            queued=settings.ingest == "kafka",
            tokens=voter_tokens(settings),
        )
        results = ResultsReader(
            engine,
            clock,
            ttl_s=settings.results_cache_s,
            freeze_if_due=partial(freeze_if_due, engine) if log_close is None else None,
        )
        readiness = Readiness(engine, broker_check)
        app.state.services = AppServices(
            settings=settings,
            clock=clock,
            engine=keyed,
            sink=sink,
            voting=voting,
            results=results,
            lifecycle=ParedaoLifecycle(keyed, clock, caches=(results, voting), log_close=log_close),
            replay=(
                ReplayService(engine, settings.kafka, clock) if settings.ingest == "kafka" else None
            ),
            certificates=CertificateService(
                engine, CertificateKeys.from_seeds(settings.keys.certificate_seeds)
            ),
            readiness=readiness,
            challenge_throttle=challenge_throttle,
            captcha_difficulty=captcha_difficulty,
            templates=templates,
        )
        housekeeper = Housekeeper(
            engine,
            clock,
            interval_s=settings.prune_interval_s,
            margin_s=settings.prune_margin_s,
        )
        await sink.start()
        housekeeper.start()
        # Everything made at start lives as long as the process: keep it out of the
        # collector's full passes, which would otherwise pause every request in flight.
        # A request leaves almost no cycles: the young generation is collected every 100k
        # allocations, not every 700 (~3 % of a worker's CPU under a vote burst, by perf).
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        try:
            yield
        finally:
            readiness.begin_draining()  # /readyz answers 503 from now on
            await housekeeper.stop()
            await sink.stop()  # stop taking votes, make the ones taken durable
            engine.dispose()
            metrics.process_exiting()

    app = Paredao(
        title="Paredão",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
        # Our metrics and logs are Prometheus' and our own (observability/): FastAPI's
        # OpenTelemetry hooks would only ask, on every request, whether a provider is set.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    forget_in_logs(
        *(s.get_secret_value() for s in (settings.admin_token, settings.secret_key) if s),
        *settings.previous_secrets,
    )
    install_error_handlers(app)
    install_docs(app)
    app.bounds = install_guards(
        app, max_body=settings.max_body_bytes, max_in_flight=settings.limit_concurrency
    )
    app.add_middleware(telemetry.RequestTelemetry)  # outermost but the vote door
    routers = (
        # The vote page first: it shares `GET /paredoes/{id}` with the API, for browsers only.
        pages.browser,
        pages.public,
        production_session.router,
        production.router,
        production.data,
        candidates.router,
        candidates.admin,
        paredoes.router,
        paredoes.admin,
        captcha.router,
        votes.router,
        votes.admin,
        certificates.router,
        audit.admin,
        health.router,
        telemetry.router,
    )
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def vote_sink(
    settings: Settings, engine: Engine
) -> tuple[VoteSink, LogClose | None, Callable[[], None] | None]:
    """Where accepted votes go, with the Kafka path's close (into the log) and broker check:
    the Kafka producer; on a SQLite file with PAREDAO_VOTE_WRITER=process, the writer
    process; else this worker's group-commit writer (on its event loop on a SQLite file by
    default, `loop`; in a thread otherwise)."""
    if settings.ingest == "kafka":
        from pipeline.kafka.probe import BrokerProbe
        from pipeline.kafka.producer import KafkaVoteSink  # the Kafka client only where it is used

        sink = KafkaVoteSink(settings.kafka)
        return sink, sink.log_close, BrokerProbe(settings.kafka).check
    if settings.vote_writer == "process" and (database := sqlite_file(settings)):
        writer = WriterClient(
            settings.database_url,
            socket_path(database),
            deadline_s=settings.vote_deadline_s,
            writer_args=[
                f"--max-batch={settings.vote_batch_max}",
                f"--max-wait-s={settings.vote_batch_wait_s}",
                f"--queue-size={settings.vote_queue_size}",
                f"--busy-timeout-s={settings.db_busy_timeout_s}",
                *device_limit_args(settings),
            ],
        )
        return writer, None, None
    thread = GroupCommitWriter(
        engine,
        max_batch=settings.vote_batch_max,
        max_wait_s=settings.vote_batch_wait_s,
        queue_size=settings.vote_queue_size,
        deadline_s=settings.vote_deadline_s,
        unico_per_device=settings.device_unico_limit,
        on_loop=settings.vote_writer == "loop",
    )
    return thread, None, None


def device_limit_args(settings: Settings) -> list[str]:
    """The vote writer process's argument for the votos únicos per device (none in jwt mode)."""
    limit = settings.device_unico_limit
    return [] if limit is None else [f"--unico-per-device={limit}"]


def sqlite_file(settings: Settings) -> str | None:
    """The path of the SQLite database file, or None (another database, or in memory)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def voter_tokens(settings: Settings) -> VoterTokens | None:
    """In PAREDAO_VOTER_AUTH=jwt mode, the verifier of voters' tokens (its key read now)."""
    if settings.voter_auth != "jwt":
        return None
    assert settings.jwt_key_file and settings.jwt_issuer and settings.jwt_audience
    return VoterTokens.load(
        settings.jwt_key_file,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        algorithms=tuple(a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()),
    )
