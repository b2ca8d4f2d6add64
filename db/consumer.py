"""What the Kafka consumer stores beside the votes, in the same transaction: the partitions'
next offsets, the refusals with their reasons, and the close markers that freeze a result."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlmodel import Session, SQLModel

from db.paredoes import get_paredao
from db.results import freeze
from db.votes import upsert
from model.ballot import Ballot
from model.errors import DomainError
from model.paredao import ParedaoStatus
from model.vote import ClosingMark, ConsumerOffset, VoteRefusal

OFFSETS = SQLModel.metadata.tables[ConsumerOffset.__tablename__]
REFUSALS = SQLModel.metadata.tables[VoteRefusal.__tablename__]
MARKS = SQLModel.metadata.tables[ClosingMark.__tablename__]


# Every partition's row made to exist and locked, its next offset answered: one statement
# (`DO UPDATE` locks a row that exists, as `FOR UPDATE` would; the partitions in one order).
LOCK_OFFSETS = (
    "INSERT INTO consumer_offsets (topic, partition, next_offset)"
    " SELECT %s, p, 0 FROM unnest(%b::integer[]) AS t(p) ORDER BY p"
    " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = consumer_offsets.next_offset"
    " RETURNING partition, next_offset"
)
ADVANCE_OFFSETS = (
    "UPDATE consumer_offsets AS o SET next_offset = t.o"
    " FROM unnest(%b::integer[], %b::bigint[]) AS t(p, o)"
    " WHERE o.topic = %s AND o.partition = t.p AND o.next_offset < t.o"
)


def stored_offsets(connection: Connection, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """The next offset to read of each partition (0 for one never read), row-locked on
    PostgreSQL until the transaction ends: a second consumer that still thinks it owns a
    partition (a rebalance in flight) waits here, then skips what this one stored."""
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(LOCK_OFFSETS, (topic, wanted))
        return {int(p): int(o) for p, o in rows}
    statement = upsert(connection, OFFSETS).on_conflict_do_nothing()
    connection.execute(
        statement, [{"topic": topic, "partition": p, "next_offset": 0} for p in wanted]
    )
    query = (
        select(OFFSETS.c.partition, OFFSETS.c.next_offset)
        .where(OFFSETS.c.topic == topic, OFFSETS.c.partition.in_(wanted))
        .order_by(OFFSETS.c.partition)
    )
    return {int(p): int(o) for p, o in connection.execute(query)}


def read_offsets(connection: Connection, topic: str) -> dict[int, int]:
    """Every partition's next offset as stored (no lock): where the consumer resumes."""
    rows = connection.execute(
        select(OFFSETS.c.partition, OFFSETS.c.next_offset).where(OFFSETS.c.topic == topic)
    )
    return {int(p): int(o) for p, o in rows}


def store_offsets(connection: Connection, topic: str, next_offsets: Mapping[int, int]) -> None:
    if not next_offsets:
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(ADVANCE_OFFSETS, _offset_arrays(topic, next_offsets))
        return
    for partition, offset in sorted(next_offsets.items()):
        connection.execute(
            OFFSETS.update()
            .where(
                OFFSETS.c.topic == topic,
                OFFSETS.c.partition == partition,
                OFFSETS.c.next_offset < offset,
            )
            .values(next_offset=offset)
        )


INSERT_REFUSALS = (
    "INSERT INTO vote_refusals (paredao_id, vote_id, nominee_id, mode, reason, detail, cast_at)"
    " SELECT * FROM unnest(%b::integer[], %b::uuid[], %b::integer[], %b::varchar[],"
    " %b::varchar[], %b::varchar[], %b::timestamptz[]) ON CONFLICT DO NOTHING"
)

Refused = Sequence[tuple[Ballot, DomainError]]


def _in_order(refused: Refused) -> list[tuple[Ballot, DomainError]]:
    return sorted(refused, key=lambda item: (item[0].paredao_id, item[0].vote_id.int))


def _refusal_arrays(ordered: Refused) -> tuple[list[Any], ...]:
    """The refusals as `INSERT_REFUSALS`'s arrays: one statement, a peak's batch refuses
    thousands."""
    return (
        [b.paredao_id for b, _ in ordered],
        [b.vote_id for b, _ in ordered],
        [b.nominee_id for b, _ in ordered],
        [b.mode.value for b, _ in ordered],
        [error.code[:32] for _, error in ordered],
        [str(error.detail)[:300] for _, error in ordered],
        [b.cast_at for b, _ in ordered],
    )


def _offset_arrays(topic: str, next_offsets: Mapping[int, int]) -> tuple[Any, ...]:
    ordered = sorted(next_offsets.items())
    return ([p for p, _ in ordered], [o for _, o in ordered], topic)


def store_refusals_and_offsets(
    connection: Connection, topic: str, refused: Refused, next_offsets: Mapping[int, int]
) -> None:
    """`record_refusals` and `store_offsets`; on PostgreSQL both in one round trip."""
    if connection.dialect.name != "postgresql":
        record_refusals(connection, refused)
        store_offsets(connection, topic, next_offsets)
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.pipeline(), raw.cursor() as cursor:
        if refused:
            cursor.execute(INSERT_REFUSALS, _refusal_arrays(_in_order(refused)))
        if next_offsets:
            cursor.execute(ADVANCE_OFFSETS, _offset_arrays(topic, next_offsets))


def record_refusals(connection: Connection, refused: Refused) -> None:
    """Keep each refused vote's reason, for the voter's status lookup (the first one wins)."""
    if not refused:
        return
    ordered = _in_order(refused)
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(INSERT_REFUSALS, _refusal_arrays(ordered))
        return
    rows = [
        {
            "paredao_id": b.paredao_id,
            "vote_id": b.vote_id,
            "nominee_id": b.nominee_id,
            "mode": b.mode.value,
            "reason": error.code[:32],
            "detail": str(error.detail)[:300],
            "cast_at": b.cast_at,
        }
        for b, error in ordered
    ]
    connection.execute(upsert(connection, REFUSALS).on_conflict_do_nothing(), rows)


def mark_partitions_closed(
    connection: Connection, marks: Mapping[int, tuple[set[int], int]], now: datetime
) -> list[int]:
    """Record close markers read from the log — paredão id → (partitions read, partitions the
    topic has) — and freeze each `closing` paredão whose markers are now read in every
    partition. Returns the ids of the paredões frozen now."""
    frozen: list[int] = []
    for paredao_id, (partitions, total) in sorted(marks.items()):
        rows = [{"paredao_id": paredao_id, "partition": p} for p in sorted(partitions)]
        connection.execute(upsert(connection, MARKS).on_conflict_do_nothing(), rows)
        read = connection.execute(
            select(func.count()).select_from(MARKS).where(MARKS.c.paredao_id == paredao_id)
        ).scalar_one()
        if read < total:
            continue
        session = Session(bind=connection)
        paredao, nominees = get_paredao(session, paredao_id, for_update=True)
        if paredao.status != ParedaoStatus.closing:
            continue
        freeze(session, paredao, [c.id for c in nominees if c.id is not None], now)
        session.flush()
        frozen.append(paredao_id)
    return frozen
