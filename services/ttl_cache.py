"""A per-process cache whose entries live a fixed time (monotonic clock)."""

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from observability import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Answers `get` from memory for `ttl_s` seconds after loading a value.

    Concurrent misses may each load (the last one wins): a load is one cheap read, and
    locking would make every reader wait on the slowest one. `forget` drops a key at once,
    and a load that was already running when it was forgotten is not kept (it may have read
    what the change made stale).
    """

    def __init__(self, ttl_s: float, name: str = "") -> None:
        self.ttl_s = ttl_s
        self.name = name  # counted as `paredao_cache_requests_total{cache=name}` when named
        self._entries: dict[K, tuple[float, V]] = {}
        self._forgotten: dict[K, int] = {}  # key → how many times it was forgotten

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            if self.name:
                metrics.cache_read(self.name, hit=True)
            return entry[1]
        if self.name:
            metrics.cache_read(self.name, hit=False)
        generation = self._forgotten.get(key, 0)
        value = await load()
        if self._forgotten.get(key, 0) == generation:
            self._entries[key] = (time.monotonic() + self.ttl_s, value)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
        self._forgotten[key] = self._forgotten.get(key, 0) + 1

    def clear(self) -> None:
        self._entries.clear()
