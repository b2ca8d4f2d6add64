"""Reading paredões, for the API and the pages. Every change of a paredão goes through
`services.lifecycle`."""

import asyncio

from sqlalchemy import Engine
from sqlmodel import Session

from db.paredoes import ParedaoWithNominees as ParedaoWithNominees
from db.paredoes import get_paredao as get_paredao  # 404 for an unknown paredão
from db.paredoes import list_paredoes as list_paredoes  # newest first, by effective status


async def load_paredao(engine: Engine, paredao_id: int) -> ParedaoWithNominees:
    """The paredão and its nominees (404 if unknown), read off the event loop."""
    return await asyncio.to_thread(_read, engine, paredao_id)


def _read(engine: Engine, paredao_id: int) -> ParedaoWithNominees:
    with Session(engine) as session:
        return get_paredao(session, paredao_id)
