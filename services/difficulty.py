"""The proof of work's difficulty, raised while challenges are in demand: a per-worker
controller of ALTCHA's `maxnumber` (the browser tries about half of it).

It counts the challenges this worker issues over a sliding window, on the app's clock. At or
below `raise_above_per_s` a challenge gets the base difficulty; each doubling of the rate above
it doubles the difficulty, up to `max_doublings`; as the rate falls the window forgets the burst
and the difficulty falls back with it.

It counts challenges issued, not solved: every solve needs a challenge issued first, so the
issue rate bounds and leads the solve rate; and it is seen right where the difficulty is
chosen, while solves are seen by whichever worker takes the vote, on the hot vote path. The
price: fetching challenges without solving them raises the difficulty for everyone, as far as
the per-address challenge limit and `max_doublings` let it.
"""

import math
from collections import deque
from datetime import datetime


class CaptchaDifficulty:
    """This worker's challenge rate, and the `maxnumber` it calls for (see the module doc)."""

    def __init__(
        self, base: int, *, raise_above_per_s: float, max_doublings: int, window_s: int
    ) -> None:
        self.base = base
        self._threshold = raise_above_per_s
        self._max_doublings = max_doublings
        self._window_s = window_s
        self._seconds: deque[list[int]] = deque()  # [epoch second, challenges issued in it]
        self._in_window = 0

    def issue(self, now: datetime) -> int:
        """Count a challenge issued at `now`; the `maxnumber` it gets."""
        second = math.floor(now.timestamp())
        self._forget_before(second)
        if self._seconds and second <= self._seconds[-1][0]:  # this second (or a clock step back)
            self._seconds[-1][1] += 1
        else:
            self._seconds.append([second, 1])
        self._in_window += 1
        return self._max_number()

    def current(self, now: datetime) -> int:
        """The `maxnumber` a challenge issued at `now` would get, without counting one."""
        self._forget_before(math.floor(now.timestamp()))
        return self._max_number()

    def rate_per_s(self, now: datetime) -> float:
        """Challenges issued per second over the window ending at `now`."""
        self._forget_before(math.floor(now.timestamp()))
        return self._in_window / self._window_s

    def _forget_before(self, second: int) -> None:
        while self._seconds and self._seconds[0][0] <= second - self._window_s:
            self._in_window -= self._seconds.popleft()[1]

    def _max_number(self) -> int:
        rate = self._in_window / self._window_s
        if rate <= self._threshold:
            return self.base
        doublings = min(self._max_doublings, math.ceil(math.log2(rate / self._threshold)))
        return self.base << doublings
