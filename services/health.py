"""Readiness: whether this process should be sent votes now (`/readyz`)."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from db.health import schema_revision

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0


@dataclass
class ReadinessReport:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)  # part → "ok" or why not

    @property
    def reasons(self) -> str:
        return "; ".join(f"{part}: {state}" for part, state in self.checks.items() if state != "ok")


class Readiness:
    """Ready: not draining, the database reachable and migrated, and on the Kafka path the
    brokers answering. Each check runs in a thread, bounded in time; why a check failed is
    logged here, not told to whoever asks (the answer is public)."""

    def __init__(self, engine: Engine, broker_check: Callable[[], None] | None = None) -> None:
        self._engine = engine
        self._broker_check = broker_check
        self.draining = False

    def begin_draining(self) -> None:
        """The process is shutting down: answer not ready from now on."""
        self.draining = True

    async def check(self) -> ReadinessReport:
        if self.draining:
            return ReadinessReport(False, {"server": "draining: shutting down"})
        checks = {"database": self._check(self._database, "database")}
        if self._broker_check is not None:
            checks["broker"] = self._check(self._broker_check, "broker")
        names = list(checks)
        states = await asyncio.gather(*checks.values())
        report = ReadinessReport(True, dict(zip(names, states, strict=True)))
        report.ready = all(state == "ok" for state in states)
        return report

    async def _check(self, probe: Callable[[], None], part: str) -> str:
        try:
            await asyncio.wait_for(asyncio.to_thread(probe), CHECK_TIMEOUT_S)
        except TimeoutError:
            log.warning("readiness: the %s did not answer in %.0f s", part, CHECK_TIMEOUT_S)
            return "no answer in time"
        except NotMigrated:
            log.warning("readiness: the database has no schema yet (python main.py migrate)")
            return "not migrated"
        except Exception as exc:
            log.warning("readiness: the %s cannot be used: %s", part, exc)
            return "unreachable"
        return "ok"

    def _database(self) -> None:
        if schema_revision(self._engine) is None:
            raise NotMigrated


class NotMigrated(Exception):
    pass
