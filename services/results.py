"""Results, stats and the recount of a paredão, built from the tally by aggregate queries."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction

from sqlalchemy import Engine
from sqlmodel import Session

from db import paredoes, results
from db.paredoes import ParedaoWithNominees
from model.clock import Clock
from model.paredao import OutcomeKind, Paredao, ParedaoStatus, effective_status
from model.results import Verdict, decide, round_half_up, tally
from model.vote import VoteMode
from services.ttl_cache import TtlCache

# What the readers return; the routes make the public schemas of them (`views.api.votes`).


@dataclass(frozen=True)
class Percentages:
    unico: float | None
    torcida: float | None
    final: float | None  # the weighted average of the modes that have votes


@dataclass(frozen=True)
class NomineeResults:
    candidate_id: int
    name: str
    percent: Percentages


@dataclass(frozen=True)
class ResultOutcome:
    kind: OutcomeKind
    candidate_id: int | None  # who leaves or wins; None while pending or tied
    tied_candidate_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Results:
    paredao_id: int
    status: ParedaoStatus
    total_votes: int
    closes_at: datetime | None
    as_of: datetime  # when these numbers were read
    nominees: tuple[NomineeResults, ...]
    outcome: ResultOutcome


@dataclass(frozen=True)
class ModeVotes:
    unico: int
    torcida: int
    total: int


@dataclass(frozen=True)
class NomineeStats:
    candidate_id: int
    name: str
    votes: ModeVotes


@dataclass(frozen=True)
class HourlyVotes:
    hour: datetime  # the start of the UTC hour
    candidate_id: int
    votes: int


@dataclass(frozen=True)
class Stats:
    paredao_id: int
    total_votes: int
    as_of: datetime
    nominees: tuple[NomineeStats, ...]
    hourly: tuple[HourlyVotes, ...]


@dataclass(frozen=True)
class Recount:
    paredao_id: int
    matches: bool  # whether the tally equals the count of the raw votes
    tally_total: int
    recount_total: int
    differences: tuple[dict[str, object], ...]


def _percent(value: Fraction | None) -> float | None:
    return None if value is None else round_half_up(value)


def _without_percentages(answer: Results) -> Results:
    hidden = Percentages(unico=None, torcida=None, final=None)
    return replace(answer, nominees=tuple(replace(n, percent=hidden) for n in answer.nominees))


class ResultsReader:
    """Reads results through a per-process cache of about a second, so that reads stay
    cheap under a vote burst; every answer says how old it is (`as_of`)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        ttl_s: float = 1.0,
        *,
        freeze_if_due: Callable[[int, datetime], None] | None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        # Direct path: the first read after `closes_at` has the lifecycle freeze the result
        # (`services.lifecycle.freeze_if_due`). Kafka path (None): the consumer closes it
        # through the log, and until then the paredão reads `closing`.
        self._freeze_if_due = freeze_if_due
        # paredão id → (the full answer, the answer the public may see)
        self.results_cache: TtlCache[int, tuple[Results, Results]] = TtlCache(ttl_s, "results")
        self.stats_cache: TtlCache[int, Stats] = TtlCache(ttl_s, "stats")

    async def results(self, paredao_id: int, *, reveal: bool = False) -> Results:
        """The results as the public sees them: while a paredão with `show_partial_results`
        off is open, every percentage is null. `reveal` gives the production's full view."""
        full, public = await self.results_cache.get(
            paredao_id, lambda: asyncio.to_thread(self._read_results, paredao_id)
        )
        return full if reveal else public

    async def stats(self, paredao_id: int) -> Stats:
        """The production team's numbers, through the same ~1 s cache (`as_of` says how old)."""
        return await self.stats_cache.get(
            paredao_id, lambda: asyncio.to_thread(self._read_stats, paredao_id)
        )

    def forget(self, paredao_id: int) -> None:
        """Drop this worker's cached answers for a paredão whose status or schedule changed
        (a close, an extension), so that its next read here shows the change."""
        self.results_cache.forget(paredao_id)
        self.stats_cache.forget(paredao_id)

    async def recount(self, paredao_id: int) -> Recount:
        return await asyncio.to_thread(self._recount, paredao_id)

    def _paredao(self, session: Session, paredao_id: int, now: datetime) -> ParedaoWithNominees:
        """The paredão, frozen first if its `closes_at` has passed and nobody closed it."""
        paredao, nominees = paredoes.get_paredao(session, paredao_id)
        due = effective_status(paredao.status, paredao.opens_at, paredao.closes_at, now)
        if self._freeze_if_due is None:
            return paredao, nominees
        if due != ParedaoStatus.closed or paredao.status == ParedaoStatus.closed:
            return paredao, nominees
        self._freeze_if_due(paredao_id, now)
        session.rollback()  # end the read snapshot taken before the freeze
        return paredoes.get_paredao(session, paredao_id)

    def _read_results(self, paredao_id: int) -> tuple[Results, Results]:
        """The full results, and what the public may see of them now."""
        with Session(self._engine) as session:
            as_of = self._clock()
            paredao, nominees = self._paredao(session, paredao_id, as_of)
            ids = [c.id for c in nominees if c.id is not None]
            rows = tally(ids, results.counts_of(session, paredao_id), paredao.unico_weight)
        names = {c.id: c.name for c in nominees}
        status = effective_status(paredao.status, paredao.opens_at, paredao.closes_at, as_of)
        if status == ParedaoStatus.closed and paredao.status != ParedaoStatus.closed:
            status = ParedaoStatus.closing  # ended by its schedule, not frozen yet (Kafka path)
        answer = Results(
            paredao_id=paredao_id,
            status=status,
            total_votes=sum(sum(r.votes.values()) for r in rows),
            closes_at=paredao.closes_at,
            as_of=as_of,
            nominees=tuple(
                NomineeResults(
                    candidate_id=r.candidate_id,
                    name=names[r.candidate_id],
                    percent=Percentages(
                        unico=_percent(r.percent[VoteMode.unico]),
                        torcida=_percent(r.percent[VoteMode.torcida]),
                        final=_percent(r.final),
                    ),
                )
                for r in rows
            ),
            outcome=_outcome(paredao, ids, {r.candidate_id: r.final for r in rows}),
        )
        hidden = status == ParedaoStatus.open and not paredao.show_partial_results
        return answer, _without_percentages(answer) if hidden else answer

    def _read_stats(self, paredao_id: int) -> Stats:
        with Session(self._engine) as session:
            as_of = self._clock()
            _, nominees = self._paredao(session, paredao_id, as_of)
            counts = results.counts_of(session, paredao_id)
            hourly = results.hourly_of(session, paredao_id)
        per_nominee = []
        for c in nominees:
            assert c.id is not None
            unico, torcida = (
                counts.get((c.id, VoteMode.unico), 0),
                counts.get((c.id, VoteMode.torcida), 0),
            )
            per_nominee.append(
                NomineeStats(
                    candidate_id=c.id,
                    name=c.name,
                    votes=ModeVotes(unico=unico, torcida=torcida, total=unico + torcida),
                )
            )
        return Stats(
            paredao_id=paredao_id,
            total_votes=sum(counts.values()),
            as_of=as_of,
            nominees=tuple(per_nominee),
            hourly=tuple(HourlyVotes(hour=h, candidate_id=n, votes=v) for h, n, v in hourly),
        )

    def _recount(self, paredao_id: int) -> Recount:
        with Session(self._engine) as session:
            paredoes.get_paredao(session, paredao_id)
            kept = results.tally_by_hour(session, paredao_id)
            counted = results.recount_by_hour(session, paredao_id)
        differences: tuple[dict[str, object], ...] = tuple(
            {
                "candidate_id": n,
                "mode": m.value,
                "hour": h.isoformat(),
                "tally": kept.get((n, m, h), 0),
                "recount": counted.get((n, m, h), 0),
            }
            for n, m, h in sorted(kept.keys() | counted.keys())
            if kept.get((n, m, h), 0) != counted.get((n, m, h), 0)
        )
        return Recount(
            paredao_id=paredao_id,
            matches=not differences,
            tally_total=sum(kept.values()),
            recount_total=sum(counted.values()),
            differences=differences,
        )


def _outcome(
    paredao: Paredao, nominee_ids: list[int], finals: dict[int, Fraction | None]
) -> ResultOutcome:
    if paredao.status != ParedaoStatus.closed or paredao.outcome is None:
        return ResultOutcome(kind=OutcomeKind.pending, candidate_id=None)
    tied: tuple[int, ...] = ()
    if paredao.outcome == OutcomeKind.tie:
        known = {n: f for n, f in finals.items() if f is not None}
        decided: Verdict = decide(paredao.kind, known or None, nominee_ids)
        tied = decided.tied
    return ResultOutcome(
        kind=paredao.outcome,
        candidate_id=paredao.outcome_candidate_id,
        tied_candidate_ids=tied,
    )
