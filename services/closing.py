"""Closing a paredão, on either ingestion path.

Direct: the close freezes the result in one transaction, which holds the paredão's row (and
SQLite's write lock), so no vote is stored in between. Kafka: votes acknowledged before the
close may still be in the log; the paredão turns `closing`, a close marker goes into every
partition, and the consumer freezes the result once it has read them all.
"""

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import Engine
from sqlmodel import Session

from db import paredoes
from db.engine import writer_engine
from db.paredoes import ParedaoWithNominees
from model.clock import Clock
from model.paredao import ParedaoStatus
from services import audit

LogClose = Callable[[int], Awaitable[None]]


class ClosingService:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        forget: Callable[[int], None],
        log_close: LogClose | None,
    ) -> None:
        self._engine = writer_engine(engine)
        self._clock = clock
        self._forget = forget  # this worker's cached reads of the paredão
        self._log_close = log_close  # None on the direct path

    async def close(self, paredao_id: int, actor: str) -> ParedaoWithNominees:
        """Close now (409 on a wrong transition), `actor` recorded in the audit log. On the
        Kafka path the answer reads `closing`; a `Unavailable` (503) there means the markers
        are not all written yet: the paredão stays `closing`, and asking again (or the
        consumer) writes them."""
        if self._log_close is None:
            closed = await asyncio.to_thread(self._change, paredao_id, actor, direct=True)
        else:
            closed = await asyncio.to_thread(self._change, paredao_id, actor, direct=False)
            self._forget(paredao_id)
            await self._log_close(paredao_id)
        self._forget(paredao_id)
        return closed

    def _change(self, paredao_id: int, actor: str, *, direct: bool) -> ParedaoWithNominees:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            if direct:  # the time is read under the lock: see change_status
                changed = paredoes.change_status(
                    session, paredao_id, ParedaoStatus.closed, self._clock
                )
            else:
                changed = paredoes.begin_closing(session, paredao_id, self._clock)
            audit.record(session, actor, "paredao.close", f"paredao:{paredao_id}", self._clock())
            return changed
