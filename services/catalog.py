"""What the vote hot path knows of each paredão, read from the database and cached briefly.

Only what cannot make an acknowledged vote wrong is cached here (the nominees, whether a
captcha is required, the CPF key, which never changes); the voting window is decided in the
writer's transaction, or on the Kafka path by the consumer.

On the Kafka path the API needs the database only for this catalog, and the log exists so that
votes keep coming in while the database is away: when it cannot be reached, the last entry read
of a paredão is kept for a bounded time (`outage_grace_s`, from when it was read), and the
consumer decides those votes when the database is back. A paredão never read, or read longer
ago than that, is a 503 with Retry-After: what this worker cannot know.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session

from db.engine import UNAVAILABLE_ERRORS
from db.paredoes import get_paredao
from model.ballot import ParedaoInfo
from model.errors import Unavailable
from model.paredao import ParedaoStatus
from services.ttl_cache import TtlCache

log = logging.getLogger(__name__)


class ParedaoCatalog:
    def __init__(
        self,
        engine: Engine,
        ttl_s: float = 1.0,
        *,
        outage_grace_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`outage_grace_s`: how long after it was read an entry is still used while the
        database cannot be reached (0: never; the direct path stores the vote in the database
        anyway)."""
        self._engine = engine
        self._outage_grace_s = outage_grace_s
        self._monotonic = monotonic
        # Stale for a moment is harmless here (see above) and spares every vote in flight
        # the wait for a refresh.
        self._cache: TtlCache[int, ParedaoInfo] = TtlCache(
            ttl_s, "catalog", monotonic, serve_stale=True
        )
        # paredão → (when it was last read from the database, what was read)
        self._last_read: dict[int, tuple[float, ParedaoInfo]] = {}
        self._forgotten: dict[int, int] = {}  # paredão → how many times it was forgotten

    async def get(self, paredao_id: int) -> ParedaoInfo:
        """The paredão's info (raises `NotFound` for an unknown paredão, `Unavailable` while
        the database cannot be reached and no entry read within the grace is kept)."""
        return await self._cache.get(paredao_id, lambda: self._fetch(paredao_id))

    async def _fetch(self, paredao_id: int) -> ParedaoInfo:
        generation = self._forgotten.get(paredao_id, 0)
        try:
            info = await asyncio.to_thread(self._load, paredao_id)
        except UNAVAILABLE_ERRORS as exc:
            kept = self._last_read.get(paredao_id)
            if kept is None or self._monotonic() - kept[0] > self._outage_grace_s:
                raise Unavailable(
                    "the database is unavailable: try again", retry_after_s=1
                ) from exc
            # Cached for another ttl like a read: one try of the database per ttl, in the
            # background, while the votes go on from what was read.
            log.warning("database unavailable: paredão %d served as read before", paredao_id)
            return kept[1]
        if self._forgotten.get(paredao_id, 0) == generation:  # not made stale by a change
            self._last_read[paredao_id] = (self._monotonic(), info)
        return info

    def _load(self, paredao_id: int) -> ParedaoInfo:
        with Session(self._engine) as session:
            paredao, nominees = get_paredao(session, paredao_id)
        return ParedaoInfo(
            id=paredao_id,
            nominee_ids=tuple(c.id for c in nominees if c.id is not None),
            require_captcha=paredao.require_captcha,
            cpf_key_id=paredao.cpf_key_id,
            voting_ended=paredao.status in (ParedaoStatus.closing, ParedaoStatus.closed),
            closes_at=paredao.closes_at,
        )

    def forget(self, paredao_id: int) -> None:
        """Drop the paredão's entry, the one kept for an outage too: it changed."""
        self._cache.forget(paredao_id)
        self._last_read.pop(paredao_id, None)
        self._forgotten[paredao_id] = self._forgotten.get(paredao_id, 0) + 1
