"""The voto da torcida's rate limit as a sliding window: pure arithmetic, no storage."""

import math
from collections.abc import Hashable, Iterable, Sequence
from typing import NamedTuple, TypeVar

Voter = TypeVar("Voter", bound=Hashable)

TORCIDA_LIMIT = 10
TORCIDA_WINDOW_MS = 60_000


class Decision(NamedTuple):
    allowed: bool
    recent: tuple[int, ...]  # times (ms) of the accepted votes still inside the window
    retry_after_s: int = 0


def admit(
    recent: Sequence[int],
    now_ms: int,
    limit: int = TORCIDA_LIMIT,
    window_ms: int = TORCIDA_WINDOW_MS,
) -> Decision:
    """Whether one more vote at `now_ms` stays within `limit` votes in any `window_ms`.

    `recent` holds the times of the voter's last accepted votes. Refused votes are not
    recorded, so they spend nothing; `retry_after_s` is when the oldest vote leaves the window.
    """
    cutoff = now_ms - window_ms
    if limit > 0 and (not recent or max(recent) <= cutoff):
        return Decision(True, (now_ms,))  # nothing inside the window: most votes, at a peak
    kept = [t for t in recent if t > cutoff]
    kept.sort()  # already in order, as a rule: the sort only checks it
    inside = tuple(kept[-limit:])
    if len(inside) < limit:
        return Decision(True, (*inside, now_ms))
    wait_ms = inside[0] + window_ms - now_ms
    return Decision(False, inside, max(1, math.ceil(wait_ms / 1000)))


def admit_in_order(
    recent: dict[Voter, tuple[int, ...]], votes: Iterable[tuple[int, Voter, int]]
) -> dict[int, int]:
    """`admit` for many votes in the order given, each `(index, voter, time in ms)`, against
    each voter's `recent` times (updated in place by the admitted votes); answers the refused
    indexes → Retry-After (seconds). A batch decides tens of thousands this way: the usual
    vote, with nothing inside the window, is decided here without a call."""
    refused: dict[int, int] = {}
    for index, voter, now_ms in votes:
        seen = recent.get(voter)
        if not seen or max(seen) <= now_ms - TORCIDA_WINDOW_MS:
            recent[voter] = (now_ms,)  # as `admit` answers it
            continue
        decision = admit(seen, now_ms)
        if decision.allowed:
            recent[voter] = decision.recent
        else:
            refused[index] = decision.retry_after_s
    return refused
