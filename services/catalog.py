"""What the vote hot path knows of each paredão, read from the database and cached briefly.

Only what cannot make an acknowledged vote wrong is cached here (the nominees, whether a
captcha is required, the CPF key, which never changes); the voting window is decided in the
writer's transaction.
"""

import asyncio

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from db.paredoes import get_paredao
from model.ballot import ParedaoInfo
from model.errors import Unavailable
from model.paredao import ParedaoStatus
from services.ttl_cache import TtlCache


class ParedaoCatalog:
    def __init__(self, engine: Engine, ttl_s: float = 1.0) -> None:
        self._engine = engine
        # Stale for a moment is harmless here (see above) and spares every vote in flight
        # the wait for a refresh.
        self._cache: TtlCache[int, ParedaoInfo] = TtlCache(ttl_s, "catalog", serve_stale=True)

    async def get(self, paredao_id: int) -> ParedaoInfo:
        """The paredão's info (raises `NotFound` for an unknown paredão, `Unavailable` while
        the database cannot be reached)."""
        try:
            return await self._cache.get(
                paredao_id, lambda: asyncio.to_thread(self._load, paredao_id)
            )
        except OperationalError as exc:
            raise Unavailable("the database is unavailable: try again", retry_after_s=1) from exc

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
        self._cache.forget(paredao_id)
