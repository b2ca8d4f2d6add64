"""A paredão's lifecycle: create it, open, close and extend its voting, and freeze its result
once `closes_at` has passed. The one place that changes a paredão's status or schedule; each
change is its own unit of work, after which this worker forgets its cached reads of it.

Closing differs by ingestion path. Direct: the close freezes the result in one transaction,
which holds the paredão's row (and SQLite's write lock), so no vote is stored in between.
Kafka: votes acknowledged before the close may still be in the log; the paredão turns
`closing`, a close marker goes into every partition, and the consumer freezes the result once
it has read them all.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from db import paredoes
from db.engine import writer_engine
from db.paredoes import ParedaoWithNominees
from model.clock import Clock
from model.paredao import ParedaoStatus
from services import audit

LogClose = Callable[[int], Awaitable[None]]


class Forgets(Protocol):
    """A cache of this worker's reads of paredões."""

    def forget(self, paredao_id: int) -> None: ...


def freeze_if_due(engine: Engine, paredao_id: int, now: datetime) -> None:
    """Freeze the result of a paredão whose `closes_at` has passed and that nobody closed
    (the direct path does it at the first read after `closes_at`)."""
    with Session(writer_engine(engine)) as session, session.begin():
        paredoes.finalize_if_due(session, paredao_id, now)


class ParedaoLifecycle:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        caches: Iterable[Forgets],
        log_close: LogClose | None,
    ) -> None:
        self._engine = writer_engine(engine)  # new paredões take the engine's CPF key
        self._clock = clock
        self._caches = tuple(caches)  # this worker's cached reads of paredões
        self._log_close = log_close  # None on the direct path

    # Each change is done by an `actor` (`services.audit`), appended to the audit log in the
    # change's own transaction.

    async def create(self, fields: dict[str, Any], actor: str) -> ParedaoWithNominees:
        """A new paredão of 2 to 4 distinct housemates (422 names any that is not one)."""
        return await self._change(
            None,
            lambda s: paredoes.create_paredao(s, fields, self._clock()),
            (actor, "paredao.create"),
        )

    async def open(self, paredao_id: int, actor: str) -> ParedaoWithNominees:
        """`scheduled → open` now; any other transition is a 409."""
        return await self._change(
            paredao_id,
            lambda s: paredoes.change_status(s, paredao_id, ParedaoStatus.open, self._clock),
            (actor, "paredao.open"),
        )

    async def extend(self, paredao_id: int, closes_at: datetime, actor: str) -> ParedaoWithNominees:
        """Move `closes_at`. A paredão that closed in a tie reopens until then (a tie is
        never broken arbitrarily); one with a decided outcome cannot be reopened (409)."""
        return await self._change(
            paredao_id,
            lambda s: paredoes.extend_voting(s, paredao_id, closes_at, self._clock()),
            (actor, "paredao.update"),
        )

    async def close(self, paredao_id: int, actor: str) -> ParedaoWithNominees:
        """Close now (409 on a wrong transition). On the Kafka path the answer reads
        `closing`; a `Unavailable` (503) there means the markers are not all written yet:
        the paredão stays `closing`, and asking again (or the consumer) writes them."""
        if self._log_close is None:
            # The time is read under the row lock: see `db.paredoes.change_status`.
            return await self._change(
                paredao_id,
                lambda s: paredoes.change_status(s, paredao_id, ParedaoStatus.closed, self._clock),
                (actor, "paredao.close"),
            )
        closing = await self._change(
            paredao_id,
            lambda s: paredoes.begin_closing(s, paredao_id, self._clock),
            (actor, "paredao.close"),
        )
        await self._log_close(paredao_id)
        self._forget(paredao_id)
        return closing

    def begin_due_closes(self, now: datetime) -> list[int]:
        """The Kafka path's close of every paredão whose `closes_at` passed by `now` and whose
        close has not begun: each turns `closing`, in one unit of work; the ids it closed
        (whoever writes their close markers next: the consumer, which calls this from its
        loop, hence synchronous)."""
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            due = paredoes.due_to_close(session, now)
            for paredao_id in due:
                paredoes.begin_closing(session, paredao_id, self._clock)
        for paredao_id in due:
            self._forget(paredao_id)
        return due

    async def _change(
        self,
        paredao_id: int | None,
        change: Callable[[Session], ParedaoWithNominees],
        done_by: tuple[str, str],
    ) -> ParedaoWithNominees:
        """`change` in a unit of work of its own, with its audit entry (actor, action); then,
        for an existing paredão, this worker's cached reads of it are forgotten."""
        changed = await asyncio.to_thread(self._in_transaction, change, done_by)
        if paredao_id is not None:
            self._forget(paredao_id)
        return changed

    def _in_transaction(
        self, change: Callable[[Session], ParedaoWithNominees], done_by: tuple[str, str]
    ) -> ParedaoWithNominees:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            changed = change(session)
            actor, action = done_by
            audit.record(session, actor, action, f"paredao:{changed[0].id}", self._clock())
            return changed

    def _forget(self, paredao_id: int) -> None:
        for cache in self._caches:
            cache.forget(paredao_id)
