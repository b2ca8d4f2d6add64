"""The voto da torcida's rate limit as a sliding window: pure arithmetic, no storage."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

TORCIDA_LIMIT = 10
TORCIDA_WINDOW_MS = 60_000


@dataclass(frozen=True)
class Decision:
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
    inside = tuple(sorted(t for t in recent if t > now_ms - window_ms))[-limit:]
    if len(inside) < limit:
        return Decision(True, (*inside, now_ms))
    wait_ms = inside[0] + window_ms - now_ms
    return Decision(False, inside, max(1, math.ceil(wait_ms / 1000)))
