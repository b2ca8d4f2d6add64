"""Housekeeping on a timer: every worker prunes, now and then, the rows that can no longer
decide anything (`db.housekeeping`); `python main.py prune` does the same once."""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import Engine

from db.housekeeping import Pruned, prune
from model.clock import Clock

log = logging.getLogger(__name__)


class Housekeeper:
    """Prunes every `interval_s` seconds while the app runs (several workers doing it too is
    harmless: each delete takes what is left)."""

    def __init__(self, engine: Engine, clock: Clock, *, interval_s: float, margin_s: float) -> None:
        self._engine = engine
        self._clock = clock
        self._interval_s = interval_s
        self._margin = timedelta(seconds=margin_s)
        self._task: asyncio.Task[None] | None = None

    async def prune_now(self) -> Pruned:
        return await asyncio.to_thread(prune, self._engine, self._clock(), self._margin)

    def start(self) -> None:
        if self._interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                pruned = await self.prune_now()
            except Exception:  # logged, tried again next time: pruning is never urgent
                log.exception("housekeeping failed")
                continue
            if any(vars(pruned).values()):
                log.info("pruned %s", pruned)
