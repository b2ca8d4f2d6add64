"""Casting a vote: the one function both the documented route and the vote door call."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from db.votes import find_refusal, find_vote
from model.ballot import Accepted, make_ballot
from model.errors import DomainError, NotFound, Unavailable, VotingNotOpen
from model.keys import Keys
from model.vote import VoteMode, VoteStatus
from observability import metrics
from pipeline.sink import VoteSink
from services.catalog import ParedaoCatalog
from services.identity import VoterTokens


class VoteChoice(Protocol):
    """What a voter sends (the API's `VoteCreate`, already validated)."""

    @property
    def nominee_id(self) -> int: ...
    @property
    def mode(self) -> VoteMode: ...
    @property
    def voter_id(self) -> str: ...
    @property
    def cpf(self) -> str | None: ...
    @property
    def vote_id(self) -> uuid.UUID | None: ...
    @property
    def captcha_token(self) -> str | None: ...


@dataclass(frozen=True)
class VoteState:
    """What became of a vote: counted, refused (with the reason) or, on the Kafka path,
    still queued (then the rest is None)."""

    vote_id: uuid.UUID
    paredao_id: int
    status: VoteStatus
    nominee_id: int | None = None
    mode: VoteMode | None = None
    accepted_at: datetime | None = None
    reason: str | None = None
    detail: str | None = None


class VotingService:
    def __init__(
        self,
        catalog: ParedaoCatalog,
        sink: VoteSink,
        keys: Keys,
        engine: Engine,
        *,
        queued: bool = False,
        tokens: VoterTokens | None = None,
    ) -> None:
        self._catalog = catalog
        # jwt mode: the voter is the account a bearer token names, not the body's voter_id.
        self._tokens = tokens
        self._sink = sink
        self._keys = keys
        self._engine = engine
        # Kafka path: an acknowledged vote may not be decided yet, so an unknown vote_id reads
        # as queued; on the direct path every acknowledged vote is stored.
        self._queued = queued

    async def cast(
        self, paredao_id: int, body: VoteChoice, now: datetime, authorization: str | None = None
    ) -> Accepted:
        """Validate a vote cast at `now` against its paredão and hand it to the sink; returns
        once the sink holds it durably (or raises the refusal). Every answer is counted."""
        ingest = "kafka" if self._queued else "direct"
        try:
            accepted = await self._cast(paredao_id, body, now, authorization)
        except Unavailable:
            metrics.vote_answered(ingest, body.mode.value, "shed")
            raise
        except DomainError as exc:
            metrics.vote_answered(ingest, body.mode.value, "refused", exc.code)
            raise
        outcome = "replay" if accepted.replay else accepted.status.value
        metrics.vote_answered(ingest, body.mode.value, outcome)
        return accepted

    async def _cast(
        self, paredao_id: int, body: VoteChoice, now: datetime, authorization: str | None
    ) -> Accepted:
        voter_id = body.voter_id
        if self._tokens is not None:
            voter_id = self._tokens.voter_id(authorization, now)
        paredao = await self._catalog.get(paredao_id)
        if self._queued and paredao.ended_at(now):
            # The Kafka path answers at once what the consumer would refuse anyway.
            raise VotingNotOpen(f"voting in paredão {paredao_id} has ended")
        ballot = make_ballot(
            paredao,
            nominee_id=body.nominee_id,
            mode=body.mode,
            voter_id=voter_id,
            cpf=body.cpf,
            vote_id=body.vote_id,
            captcha_token=body.captcha_token,
            keys=self._keys,
            now=now,
        )
        return await self._sink.submit(ballot)

    def forget(self, paredao_id: int) -> None:
        """Drop this worker's cached paredão (its schedule changed)."""
        self._catalog.forget(paredao_id)

    async def status(self, paredao_id: int, vote_id: uuid.UUID) -> VoteState:
        """Whether a vote is counted, refused (with the reason) or, on the Kafka path, still
        queued; 404 for an unknown paredão, or an unknown vote on the direct path."""
        await self._catalog.get(paredao_id)
        return await asyncio.to_thread(self._status, paredao_id, vote_id)

    def _status(self, paredao_id: int, vote_id: uuid.UUID) -> VoteState:
        with self._engine.connect() as connection:
            vote = find_vote(connection, paredao_id, vote_id)
            refusal = None if vote is not None else find_refusal(connection, paredao_id, vote_id)
        if vote is not None:
            return VoteState(
                vote_id=vote_id,
                paredao_id=paredao_id,
                status=VoteStatus.counted,
                nominee_id=vote.nominee_id,
                mode=VoteMode(vote.mode),
                accepted_at=vote.accepted_at,
            )
        if refusal is not None:
            return VoteState(
                vote_id=vote_id,
                paredao_id=paredao_id,
                status=VoteStatus.refused,
                nominee_id=refusal.nominee_id,
                mode=VoteMode(refusal.mode),
                accepted_at=refusal.cast_at,
                reason=refusal.reason,
                detail=refusal.detail,
            )
        if not self._queued:
            raise NotFound(f"paredão {paredao_id} has no vote {vote_id}")
        return VoteState(vote_id=vote_id, paredao_id=paredao_id, status=VoteStatus.queued)
