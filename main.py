"""The Paredão API: `create_app` for ASGI servers (`uvicorn --factory main:create_app`), and
`python main.py serve|migrate` to run it."""

import argparse
import gc
import logging
import logging.config
import secrets
import signal
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy import make_url

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
from controllers.guards import install_guards
from db.engine import make_engine
from db.housekeeping import prune as prune_rows
from db.migrate import upgrade_to_head
from db.paredoes import with_cpf_key
from model.certificate import CertificateKeys
from model.clock import Clock, system_clock
from observability import metrics
from observability.logs import forget_in_logs, log_config
from pipeline.group_commit import GroupCommitWriter
from pipeline.sink import VoteSink
from pipeline.writer_client import WriterClient
from pipeline.writer_process import socket_path
from services.audit import verify_chain
from services.catalog import ParedaoCatalog
from services.certificates import CertificateService
from services.closing import ClosingService, LogClose
from services.difficulty import CaptchaDifficulty
from services.health import Readiness
from services.housekeeping import Housekeeper
from services.identity import VoterTokens
from services.results import ResultsReader
from services.throttle import AddressThrottle
from services.voting import VotingService
from views.pages import STATIC_DIR, make_templates

DESCRIPTION = """
Voting for reality-TV elimination rounds ("paredões").

Admin calls need `Authorization: Bearer <PAREDAO_ADMIN_TOKEN>`.
Every error answers `{"error": <code>, "detail": <message>}`.
"""


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> FastAPI:
    """Build the app; the database engine and the vote sink are created when it starts, not
    here. Every time the app reads comes from `clock` (tests pass one they move by hand)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, busy_timeout_s=settings.db_busy_timeout_s)
        sink: VoteSink
        log_close: LogClose | None = None
        broker_check = None
        if settings.ingest == "kafka":
            from pipeline.kafka import KafkaVoteSink  # the Kafka client only where it is used
            from pipeline.probe import BrokerProbe

            sink = kafka_sink = KafkaVoteSink(settings.kafka)
            log_close = kafka_sink.log_close
            broker_check = BrokerProbe(settings.kafka).check
        elif settings.vote_writer == "process" and (database := sqlite_file(settings)):
            sink = WriterClient(
                settings.database_url,
                socket_path(database),
                deadline_s=settings.vote_deadline_s,
                writer_args=[
                    f"--max-batch={settings.vote_batch_max}",
                    f"--max-wait-s={settings.vote_batch_wait_s}",
                    f"--queue-size={settings.vote_queue_size}",
                    f"--busy-timeout-s={settings.db_busy_timeout_s}",
                ],
            )
        else:
            sink = GroupCommitWriter(
                engine,
                max_batch=settings.vote_batch_max,
                max_wait_s=settings.vote_batch_wait_s,
                queue_size=settings.vote_queue_size,
                deadline_s=settings.vote_deadline_s,
            )
        results = ResultsReader(
            engine,
            clock,
            ttl_s=settings.results_cache_s,
            freeze_when_due=settings.ingest == "direct",
        )
        app.state.engine = with_cpf_key(engine, settings.keys.cpf_key_id)  # for new paredões
        app.state.writer = sink
        app.state.voting = VotingService(
            ParedaoCatalog(engine),
            sink,
            settings.keys,
            engine,
            queued=settings.ingest == "kafka",
            tokens=voter_tokens(settings),
        )
        app.state.results = results
        app.state.certificates = CertificateService(
            engine, CertificateKeys.from_seeds(settings.keys.certificate_seeds)
        )
        voting: VotingService = app.state.voting

        def forget(paredao_id: int) -> None:
            results.forget(paredao_id)
            voting.forget(paredao_id)

        app.state.closing = ClosingService(engine, clock, forget, log_close)
        app.state.replay = None
        if settings.ingest == "kafka":
            from services.replay import ReplayService

            app.state.replay = ReplayService(engine, settings.kafka, clock)
        app.state.readiness = readiness = Readiness(engine, broker_check)
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
        gc.freeze()
        try:
            yield
        finally:
            readiness.begin_draining()  # /readyz answers 503 from now on
            await housekeeper.stop()
            await sink.stop()  # stop taking votes, make the ones taken durable
            engine.dispose()
            metrics.process_exiting()

    app = FastAPI(
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
    app.state.settings = settings
    forget_in_logs(
        *(s.get_secret_value() for s in (settings.admin_token, settings.secret_key) if s),
        *settings.previous_secrets,
    )
    app.state.clock = clock
    app.state.challenge_throttle = AddressThrottle(settings.captcha_per_minute)
    app.state.captcha_difficulty = CaptchaDifficulty(
        settings.captcha_max_number,
        raise_above_per_s=settings.captcha_raise_above_per_s,
        max_doublings=settings.captcha_max_doublings,
        window_s=settings.captcha_rate_window_s,
    )
    app.state.templates = make_templates()
    install_error_handlers(app)
    install_docs(app)
    app.add_middleware(votes.LeanVotes)
    install_guards(app, max_body=settings.max_body_bytes, max_in_flight=settings.limit_concurrency)
    app.add_middleware(telemetry.RequestTelemetry)  # outermost: sees every request
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


def migrate() -> None:
    """Migrate the database to the newest schema (Alembic)."""
    upgrade_to_head(get_settings().database_url)
    print("The database is at the newest schema.", file=sys.stderr)


def serve() -> None:
    """Migrate the database to the newest schema, then serve the API."""
    ensure_env_file()
    settings = get_settings()
    upgrade_to_head(settings.database_url)
    print(f"Paredão API on http://{settings.host}:{settings.port}/docs", file=sys.stderr)
    metrics.prepare_multiprocess(settings.workers)  # several workers count together
    uvicorn.run(
        "main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # A backstop past the guards' own limit (which answers 503 in our error shape): idle
        # keep-alive connections count here too.
        limit_concurrency=2 * settings.limit_concurrency,
        log_level="info",
        log_config=log_config(),
        access_log=False,  # one JSON line per request instead (controllers/telemetry.py)
    )


def consumer() -> None:
    """Run a member of the Kafka consumer group that stores the votes (until SIGTERM/SIGINT)."""
    from pipeline.consumer import VoteConsumer
    from pipeline.consumer_metrics import ConsumerMetrics

    settings = get_settings()
    logging.config.dictConfig(log_config())
    engine = make_engine(settings.database_url, pool_size=2)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    member = VoteConsumer(
        engine, settings.kafka, system_clock, batch_max=settings.consumer_batch_max
    )
    watch = ConsumerMetrics(engine, settings.kafka)
    if settings.consumer_metrics_port:
        watch.serve(settings.host, settings.consumer_metrics_port)
        print(
            f"Metrics on http://{settings.host}:{settings.consumer_metrics_port}/metrics",
            file=sys.stderr,
        )
    print(f"Consuming {settings.kafka_topic} from {settings.kafka_bootstrap}", file=sys.stderr)
    try:
        member.run(stop, on_batch=watch.observe)
    finally:
        watch.close()
        engine.dispose()
    print(f"Stopped: {member.stats}", file=sys.stderr)


def kafka_topics() -> None:
    """Create the votes topic and its dead-letter topic (idempotent)."""
    from pipeline.kafka import create_topics

    settings = get_settings()
    created = create_topics(settings.kafka)
    kafka = settings.kafka
    for topic, shape in (
        (kafka.topic, f"{kafka.partitions} partitions"),
        (kafka.dead_letter_topic, "1 partition"),
    ):
        print(
            f"{topic}: {shape}, replication {kafka.replication}, min.insync.replicas "
            f"{kafka.min_insync_replicas}, LogAppendTime"
            f" ({'created' if topic in created else 'already there'})",
            file=sys.stderr,
        )


def lag() -> None:
    """Print the consumer group's lag per partition (stored offsets vs the log's end)."""
    from pipeline.kafka import consumer_lag

    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        rows = consumer_lag(engine, settings.kafka)
    finally:
        engine.dispose()
    print("partition  stored  end  lag")
    for partition, stored, end in rows:
        print(f"{partition:9d}  {stored:6d}  {end:3d}  {end - stored:3d}")
    print(f"total lag: {sum(end - stored for _, stored, end in rows)}")


def prune() -> None:
    """Delete expired captcha spends, idle torcida budgets and ended sessions (once)."""
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        pruned = prune_rows(engine, system_clock(), timedelta(seconds=settings.prune_margin_s))
    finally:
        engine.dispose()
    print(
        f"Pruned {pruned.spent_captchas} spent captchas, {pruned.torcida_budgets} idle torcida"
        f" budgets, {pruned.revoked_sessions} ended sessions.",
        file=sys.stderr,
    )


def audit_verify() -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first entry that does not match."""
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        check = verify_chain(engine)
    finally:
        engine.dispose()
    if check.broken_at is not None:
        sys.exit(f"The audit log is broken at entry {check.broken_at}: {check.reason}.")
    print(f"The audit log verifies: {check.entries} entries.", file=sys.stderr)


COMMANDS = {
    "serve": serve,
    "migrate": migrate,
    "consumer": consumer,
    "kafka-topics": kafka_topics,
    "lag": lag,
    "prune": prune,
    "audit-verify": audit_verify,
}


def main(argv: Sequence[str] | None = None) -> None:
    """`python main.py [serve|migrate]` (serve when none is named)."""
    parser = argparse.ArgumentParser(prog="python main.py", description="The Paredão API.")
    commands = parser.add_subparsers(dest="command", metavar="command")
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=(command.__doc__ or "").splitlines()[0])
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command or "serve"]()
    except ValidationError as exc:  # a setting the server will not start with, and why
        sys.exit(f"Paredão cannot start: {exc}")


if __name__ == "__main__":
    main()
