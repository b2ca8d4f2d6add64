"""Casting a vote: the one function both the documented route and the lean ASGI path call."""

from datetime import datetime

from pipeline.ballot import Accepted, make_ballot
from pipeline.catalog import ParedaoCatalog
from pipeline.group_commit import GroupCommitWriter
from views.votes import VoteCreate


class VotingService:
    def __init__(
        self, catalog: ParedaoCatalog, writer: GroupCommitWriter, secret_key: bytes
    ) -> None:
        self._catalog = catalog
        self._writer = writer
        self._secret_key = secret_key

    async def cast(self, paredao_id: int, body: VoteCreate, now: datetime) -> Accepted:
        """Validate the vote against its paredão and return once it is durable (or raise)."""
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
        return await self._writer.submit(ballot)
