"""Casting a vote: the one function both the documented route and the lean ASGI path call."""

from datetime import datetime

from model.ballot import Accepted, make_ballot
from pipeline.sink import VoteSink
from services.catalog import ParedaoCatalog
from views.votes import VoteCreate


class VotingService:
    def __init__(self, catalog: ParedaoCatalog, sink: VoteSink, secret_key: bytes) -> None:
        self._catalog = catalog
        self._sink = sink
        self._secret_key = secret_key

    async def cast(self, paredao_id: int, body: VoteCreate, now: datetime) -> Accepted:
        """Validate a vote cast at `now` against its paredão and hand it to the sink; returns
        once the sink holds it durably (or raises the refusal)."""
        ballot = make_ballot(
            await self._catalog.get(paredao_id),
            nominee_id=body.nominee_id,
            mode=body.mode,
            voter_id=body.voter_id,
            cpf=body.cpf,
            vote_id=body.vote_id,
            captcha_token=body.captcha_token,
            secret_key=self._secret_key,
            now=now,
        )
        return await self._sink.submit(ballot)
