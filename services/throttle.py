"""A per-address rate limit kept in this worker's memory: for calls that cost the server
little each but that nobody needs in bulk (captcha challenges).

Per worker, not shared: with N workers an address gets up to N times the rate, and an
address behind a carrier's NAT shares its budget with everyone behind it. Memory is bounded:
past `max_addresses` the least recently seen address is forgotten (and starts afresh).
"""

import math
from collections import OrderedDict
from datetime import datetime


class AddressThrottle:
    """A token bucket per client address: `per_minute` calls a minute, in bursts of as many."""

    def __init__(self, per_minute: int, *, max_addresses: int = 100_000) -> None:
        self._rate_per_s = per_minute / 60
        self._burst = float(per_minute)
        self._max_addresses = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, address: str, now: datetime) -> int:
        """Spend one call for `address` at `now`: 0 if allowed, else the seconds to wait."""
        at = now.timestamp()
        tokens, since = self._buckets.pop(address, (self._burst, at))
        tokens = min(self._burst, tokens + max(0.0, at - since) * self._rate_per_s)
        if tokens >= 1:
            self._buckets[address] = (tokens - 1, at)
            wait = 0
        else:
            self._buckets[address] = (tokens, at)
            wait = max(1, math.ceil((1 - tokens) / self._rate_per_s))
        while len(self._buckets) > self._max_addresses:
            self._buckets.popitem(last=False)
        return wait
