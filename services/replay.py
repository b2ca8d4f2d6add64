"""The recount from the log (Kafka path): decide every vote the log holds for a paredão again,
with the same code, into a scratch database, and compare the tally it gives with the stored
one. Next to the recount from the vote rows, it checks the consumer itself: nothing the log
holds was lost or counted twice on the way into the database."""

import asyncio
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from config import KafkaSettings
from db import paredoes, results
from db.engine import make_engine, writer_engine
from db.migrate import upgrade_to_head
from model.candidate import Candidate, CandidateStatus
from model.clock import Clock
from model.paredao import Paredao, ParedaoNominee, ParedaoStatus
from pipeline.kafka.codec import CloseMarker, UndecodableRecord, decode
from pipeline.kafka.handler import Record, handle_batch
from pipeline.kafka.producer import read_log


@dataclass(frozen=True)
class ReplayReport:
    paredao_id: int
    matches: bool  # whether deciding the log's votes again gives the stored tally
    log_votes: int  # votes of this paredão in the log (replays included)
    tally_total: int
    replay_total: int
    differences: tuple[dict[str, object], ...]


class ReplayService:
    def __init__(self, engine: Engine, kafka: KafkaSettings, clock: Clock) -> None:
        self._engine = engine
        self._kafka = kafka
        self._clock = clock

    async def replay(self, paredao_id: int) -> ReplayReport:
        return await asyncio.to_thread(self._replay, paredao_id)

    def _replay(self, paredao_id: int) -> ReplayReport:
        with Session(self._engine) as session:
            paredao, nominees = paredoes.get_paredao(session, paredao_id)
            stored = results.counts_of(session, paredao_id)
        mine = [r for r in read_log(self._kafka) if _belongs_to(r, paredao_id)]
        with tempfile.TemporaryDirectory(prefix="paredao-replay-") as folder:
            scratch = make_engine(f"sqlite:///{Path(folder) / 'replay.db'}", pool_size=1)
            try:
                upgrade_to_head(str(scratch.url))
                _copy_paredao(scratch, paredao, nominees)
                with writer_engine(scratch).begin() as connection:
                    handle_batch(connection, self._kafka.topic, mine, self._clock())
                with Session(scratch) as session:
                    replayed = results.counts_of(session, paredao_id)
            finally:
                scratch.dispose()
        keys = sorted(stored.keys() | replayed.keys())
        differences: tuple[dict[str, object], ...] = tuple(
            {
                "candidate_id": n,
                "mode": m.value,
                "tally": stored.get((n, m), 0),
                "replay": replayed.get((n, m), 0),
            }
            for n, m in keys
            if stored.get((n, m), 0) != replayed.get((n, m), 0)
        )
        kinds = Counter("marker" if _is_marker(r) else "vote" for r in mine)
        return ReplayReport(
            paredao_id=paredao_id,
            matches=not differences,
            log_votes=kinds["vote"],
            tally_total=sum(stored.values()),
            replay_total=sum(replayed.values()),
            differences=differences,
        )


def _decoded(record: Record) -> Any:
    try:
        return decode(record.value)
    except UndecodableRecord:
        return None


def _belongs_to(record: Record, paredao_id: int) -> bool:
    item = _decoded(record)
    return item is not None and item.paredao_id == paredao_id


def _is_marker(record: Record) -> bool:
    return isinstance(_decoded(record), CloseMarker)


def _copy_paredao(scratch: Engine, paredao: Paredao, nominees: list[Candidate]) -> None:
    """The paredão, as it was while votes were taken, and its nominees, into the scratch
    database (same ids): a closed paredão goes in as `closing`, so that the log's markers
    freeze it again after the votes logged before them."""
    status = ParedaoStatus.closing if paredao.status == ParedaoStatus.closed else paredao.status
    with Session(writer_engine(scratch)) as session, session.begin():
        for c in nominees:
            copy = c.model_dump(exclude={"email", "status"})
            email = f"{c.id}@replay.invalid"
            session.add(Candidate(**copy, email=email, status=CandidateStatus.housemate))
        session.flush()
        copy = paredao.model_dump(exclude={"status", "outcome", "outcome_candidate_id"})
        session.add(Paredao(**copy, status=status))
        session.flush()
        assert paredao.id is not None
        session.add_all(
            ParedaoNominee(paredao_id=paredao.id, candidate_id=c.id or 0, position=position)
            for position, c in enumerate(nominees)
        )
