"""The command line: `python main.py [command]`, `serve` when none is named (`--help` lists
the commands: serve, migrate, consumer, kafka-topics, lag, prune, audit-verify). The app
itself is built in `app.py`; `create_app` is here too, for `uvicorn --factory main:create_app`."""

import argparse
import logging.config
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import uvicorn
from pydantic import ValidationError
from sqlalchemy import Engine

from app import create_app as create_app
from config import get_settings
from db.engine import engine_for, make_engine
from db.housekeeping import prune as prune_rows
from db.migrate import upgrade_to_head
from model.clock import system_clock
from observability import metrics
from observability.logs import log_config
from services.audit import verify_chain

T = TypeVar("T")


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
    from pipeline.kafka.consumer import VoteConsumer
    from pipeline.kafka.metrics import ConsumerMetrics
    from services.lifecycle import ParedaoLifecycle

    settings = get_settings()
    logging.config.dictConfig(log_config())
    engine = make_engine(settings.database_url, pool_size=2)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # The consumer begins the close of due paredões through the lifecycle; their markers it
    # writes itself (no API close to log here: log_close=None).
    lifecycle = ParedaoLifecycle(engine, system_clock, caches=(), log_close=None)
    member = VoteConsumer(
        engine,
        settings.kafka,
        system_clock,
        close_due=lifecycle.begin_due_closes,
        batch_max=settings.consumer_batch_max,
        unico_per_device=settings.device_unico_limit,
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
    from pipeline.kafka.producer import create_topics

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


def on_database(work: Callable[[Engine], T]) -> T:
    """What `work` returns, run once on an engine of the configured database (disposed of
    afterwards): the one-shot commands' way to the database."""
    with engine_for(get_settings().database_url) as engine:
        return work(engine)


def lag() -> None:
    """Print the consumer group's lag per partition (stored offsets vs the log's end)."""
    from pipeline.kafka.producer import consumer_lag

    rows = on_database(lambda engine: consumer_lag(engine, get_settings().kafka))
    print("partition  stored  end  lag")
    for partition, stored, end in rows:
        print(f"{partition:9d}  {stored:6d}  {end:3d}  {end - stored:3d}")
    print(f"total lag: {sum(end - stored for _, stored, end in rows)}")


def prune() -> None:
    """Delete expired captcha spends, idle torcida budgets and ended sessions (once)."""
    margin = timedelta(seconds=get_settings().prune_margin_s)
    pruned = on_database(lambda engine: prune_rows(engine, system_clock(), margin))
    print(
        f"Pruned {pruned.spent_captchas} spent captchas, {pruned.torcida_budgets} idle torcida"
        f" budgets, {pruned.revoked_sessions} ended sessions.",
        file=sys.stderr,
    )


def audit_verify() -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first entry that does not match."""
    check = on_database(verify_chain)
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
    """`python main.py [command]`: one of COMMANDS, `serve` when none is named."""
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
