"""The Kafka consumer's message handler: decode → decide → store, for one batch of records,
inside the caller's transaction. No broker here: the consumer loop (`pipeline.kafka.consumer`)
polls, and tests hand records to this directly.

Votes are decided by `db.votes.decide_batch`, the same code as the direct path, with the
torcida limit kept in memory for the partitions this consumer owns (`db.torcida`). The batch's
next offsets are stored in the same transaction, after a fence that drops records already
stored by anyone (a crash before the commit to Kafka, or a rebalance in flight): each record
counts exactly once.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection

from db.consumer import mark_partitions_closed, store_refusals_and_offsets, stored_offsets
from db.copy_rows import EncodedBallots, vote_row_of_fields
from db.torcida import PartitionWindows
from db.votes import Counted, UnexpectedReplay, decide_batch
from model.ballot import Accepted, Ballot, ballot_of_fields
from model.errors import DomainError
from pipeline.kafka.codec import CloseMarker, UndecodableRecord, decode_fields


class Record(NamedTuple):
    """One record as read from the votes topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class BatchReport:
    counted: int = 0
    refused: int = 0
    replays: int = 0
    skipped: int = 0  # already stored before (fenced off)
    frozen: list[int] = field(default_factory=list)  # paredões whose result froze now
    dead: list[tuple[Record, str]] = field(default_factory=list)  # undecodable, with the error
    next_offsets: dict[int, int] = field(default_factory=dict)  # partition → next to read


@dataclass(frozen=True)
class Decoded:
    """A batch's records and what they hold: decoding needs no database, so the consumer
    decodes the next batch while the last one is being stored."""

    records: Sequence[Record]
    # The ballots in the order read, each with its row of `votes` made here too (off the
    # storing thread).
    ballots: EncodedBallots
    marks: list[tuple[int, CloseMarker]]  # (partition, marker)
    dead: list[tuple[Record, str]]  # undecodable, with the error
    first_offsets: dict[int, int]  # partition → its lowest offset in the batch
    next_offsets: dict[int, int]  # partition → past its highest


def decode_batch(
    records: Sequence[Record], pause: Callable[[], None] | None = None, every: int = 250
) -> Decoded:
    """What each record holds; `pause` is called after every `every` records."""
    ballots = EncodedBallots((), ())
    add_ballot, add_row = ballots.append, ballots.rows.append
    decoded = Decoded(records, ballots, [], [], {}, {})
    first, after = decoded.first_offsets, decoded.next_offsets
    for start in range(0, len(records), every):
        for record in records[start : start + every]:
            partition, offset = record.partition, record.offset
            if offset >= after.get(partition, 0):
                after[partition] = offset + 1
            if offset < first.get(partition, offset + 1):
                first[partition] = offset
            try:
                item = decode_fields(record.value)
            except UndecodableRecord as exc:
                decoded.dead.append((record, str(exc)))
                continue
            if isinstance(item, CloseMarker):
                decoded.marks.append((partition, item))
            else:
                add_ballot(ballot_of_fields(item))
                add_row(vote_row_of_fields(item))
        if pause is not None:
            pause()
    return decoded


def handle_batch(
    connection: Connection,
    topic: str,
    records: Sequence[Record] | Decoded,
    now: datetime,
    windows: PartitionWindows | None = None,
    unico_per_device: int | None = None,
) -> BatchReport:
    """Decide and store `records` (all of `topic`) in the caller's transaction; nothing here
    commits. Undecodable records are reported in `dead` for the dead-letter topic: their
    offsets are stored all the same, so they never stop the group.

    `windows` holds the torcida limit of the partitions this consumer owns: the caller
    forgets it when the transaction does not commit (a fresh one is used when not given).
    `unico_per_device`: the votos únicos a voter_id may cast per paredão (anonymous mode;
    None: no such limit), as on the direct path."""
    report = BatchReport()
    decoded = records if isinstance(records, Decoded) else decode_batch(records)
    fence = stored_offsets(connection, topic, set(decoded.first_offsets))
    windows = windows or PartitionWindows()
    windows.fenced(fence)
    # Records below the fence were stored before (read again after a crash before the
    # commit to Kafka, or a rebalance in flight): the rest is decoded again without them.
    if any(fence[p] > offset for p, offset in decoded.first_offsets.items()):
        fresh = [r for r in decoded.records if r.offset >= fence[r.partition]]
        report.skipped = len(decoded.records) - len(fresh)
        decoded = decode_batch(fresh)
    ballots = decoded.ballots
    next_offsets = decoded.next_offsets
    report.dead = decoded.dead
    marks: dict[int, tuple[set[int], int]] = {}
    for partition, marker in decoded.marks:
        partitions, _ = marks.setdefault(marker.paredao_id, (set(), marker.partitions))
        partitions.add(partition)

    refused: list[tuple[Ballot, DomainError]] = []
    # A vote_id the client chose may be logged twice (a client retrying after a 503 whose
    # record got in after all), and is looked up among the stored votes. One the API chose is
    # logged once: the API sends each ballot once, the idempotent producer never writes a
    # retried send twice, a client retrying without a vote_id of its own gets a new one, and
    # a record read again is fenced off by the stored offsets. The unique index proves it all
    # the same: a stored one met on the way rolls the batch back to here and decides it again
    # with every vote_id looked up.
    try:
        with connection.begin_nested():
            decisions = decide_batch(
                connection,
                ballots,
                windows,
                check_refused_vote_ids=True,
                unico_per_device=unico_per_device,
            )
    except UnexpectedReplay:
        windows.forget()  # the rolled-back attempt took places in the windows
        decisions = decide_batch(
            connection,
            ballots,
            windows,
            look_up_every_vote_id=True,
            unico_per_device=unico_per_device,
        )
    for ballot, decision in zip(ballots, decisions, strict=True):
        if isinstance(decision, Counted):
            report.counted += 1
        elif isinstance(decision, Accepted):
            report.replays += 1
        else:
            refused.append((ballot, decision))
    store_refusals_and_offsets(connection, topic, refused, next_offsets)
    report.refused = len(refused)
    # Markers after the votes of the batch: a vote cast before the close and logged before its
    # marker is decided before the result freezes.
    if marks:
        report.frozen = mark_partitions_closed(connection, marks, now)
    windows.stored(next_offsets)
    report.next_offsets = next_offsets
    return report
