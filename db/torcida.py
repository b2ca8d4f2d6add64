"""The voto da torcida's limit (`model.ratelimit.admit`) applied to a batch, kept in one of
two places:

- `StoredBudgets`, the direct path: each voter's recent votes in a `torcida_budgets` row,
  read and written in the batch's transaction (several writers share them there);
- `PartitionWindows`, the Kafka consumer: the record key `paredão:voter` puts all of a
  voter's votes in one partition, so the consumer that owns the partition keeps each voter's
  window in memory, rebuilt from the stored votes whenever it may be stale (a partition
  assigned, a batch that failed), and writes no budget row per vote.

Both apply the same rule to the same ballots in the same order, so a vote gets the same
answer on either path.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from db.vote_statements import Voter, VoteStatements
from model.ballot import Ballot, micros
from model.ratelimit import TORCIDA_WINDOW_MS, admit_in_order

WINDOW = timedelta(milliseconds=TORCIDA_WINDOW_MS)
# Memory holds every voter seen until this many; then the voters of the last `KEEP` stay.
# Pruning by time at every batch would make batches of lagging partitions (older cast
# times) rebuild their windows from the database again and again.
MAX_VOTERS = 2_000_000
KEEP = timedelta(minutes=10)


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exact (a float timestamp × 1,000 can land a millisecond
    short); a naive time is UTC (SQLite stores them so)."""
    return micros(moment) // 1000


def _votes(ballots: Sequence[Ballot], indexes: Sequence[int]) -> list[tuple[int, Voter, int]]:
    """These votos da torcida as `admit_in_order` takes them."""
    return [(i, (b.paredao_id, b.voter_id), _ms(b.cast_at)) for i in indexes for b in (ballots[i],)]


class TorcidaLimit(Protocol):
    def admit(
        self, statements: VoteStatements, ballots: Sequence[Ballot], indexes: Sequence[int]
    ) -> dict[int, int]:
        """Apply the limit to these votos da torcida in order, each at the time it was cast;
        the refused indexes → Retry-After (seconds). Admitted votes are recorded."""
        ...


class StoredBudgets:
    """Budgets stored per voter (`torcida_budgets`), locked by the batch that reads them."""

    def admit(
        self, statements: VoteStatements, ballots: Sequence[Ballot], indexes: Sequence[int]
    ) -> dict[int, int]:
        votes = _votes(ballots, indexes)
        voters = sorted({voter for _, voter, _ in votes})
        if not voters:
            return {}
        # Those with nothing stored have nothing in their window, as `admit_in_order` reads
        # a voter it does not know.
        recent: dict[Voter, tuple[int, ...]] = {
            v: tuple(int(t) for t in times.split(",") if t)
            for v, times in statements.torcida_budgets(voters).items()
        }
        refused = admit_in_order(recent, votes)
        changed = {voter for i, voter, _ in votes if i not in refused}
        statements.save_torcida_budgets({v: ",".join(map(str, recent[v])) for v in changed})
        return refused


class PartitionWindows:
    """Each voter's accepted votes of the last window, in memory, for the partitions this
    consumer owns. Exact as long as every vote of those voters stored since `_since[paredão]`
    went through here: `forget()` whenever that may not hold (a partition assigned, a batch
    that did not commit), and the next batch rebuilds what it needs from the stored votes."""

    def __init__(self) -> None:
        self._recent: dict[Voter, tuple[int, ...]] = {}
        # Per paredão: every torcida vote stored from then on is in `_recent`.
        self._since: dict[int, datetime] = {}
        # Per partition: the next offset after what this consumer stored of it; `_recent`
        # holds every vote of the partition's voters as long as no one else stored any since.
        self._next: dict[int, int] = {}
        self.loads = 0  # rebuilds from the database, for the consumer's log

    def forget(self) -> None:
        self._recent.clear()
        self._since.clear()
        self._next.clear()

    def fenced(self, fence: Mapping[int, int]) -> None:
        """A batch's fence holds its partitions and says where each is stored up to. One
        stored by someone else since this consumer last stored it (taken over in a rebalance
        while its last owner still stored a batch, or handed back) has votes these windows
        lack: they are read again, now that the fence keeps everyone else out."""
        if any(self._next.get(p) != offset for p, offset in fence.items()):
            self._recent.clear()
            self._since.clear()
        self._next.update(fence)

    def stored(self, next_offsets: Mapping[int, int]) -> None:
        """The batch's votes are in the windows, and stored up to `next_offsets` (if the
        transaction does not commit, the caller forgets)."""
        self._next.update(next_offsets)

    def admit(
        self, statements: VoteStatements, ballots: Sequence[Ballot], indexes: Sequence[int]
    ) -> dict[int, int]:
        if not indexes:
            return {}
        earliest: dict[int, datetime] = {}
        for i in indexes:
            b = ballots[i]
            if b.paredao_id not in earliest or b.cast_at < earliest[b.paredao_id]:
                earliest[b.paredao_id] = b.cast_at
        for paredao_id, first in sorted(earliest.items()):
            since = self._since.get(paredao_id)
            if since is None or first - WINDOW < since:
                self._load(statements, paredao_id, first - WINDOW)
        recent = self._recent
        refused = admit_in_order(recent, _votes(ballots, indexes))
        if len(recent) > MAX_VOTERS:
            self._prune(max(ballots[i].cast_at for i in indexes) - KEEP)
        return refused

    def _load(self, statements: VoteStatements, paredao_id: int, since: datetime) -> None:
        """Rebuild the paredão's windows from its torcida votes stored since `since`."""
        self.loads += 1
        recent: dict[Voter, list[int]] = {}
        for voter_id, accepted_at in statements.torcida_votes_since(paredao_id, since):
            recent.setdefault((paredao_id, voter_id), []).append(_ms(accepted_at))
        self._recent = {v: t for v, t in self._recent.items() if v[0] != paredao_id}
        self._recent.update({voter: tuple(sorted(times)) for voter, times in recent.items()})
        self._since[paredao_id] = since

    def _prune(self, before: datetime) -> None:
        """Drop what no vote cast from `before` on can see: memory stays one window deep."""
        cutoff = _ms(before) - TORCIDA_WINDOW_MS
        self._recent = {v: t for v, t in self._recent.items() if t and t[-1] > cutoff}
        for paredao_id, since in self._since.items():
            self._since[paredao_id] = max(since, before - WINDOW)
