"""A per-process cache whose entries live a fixed time (monotonic clock)."""

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Answers `get` from memory for `ttl_s` seconds after loading a value.

    Concurrent misses may each load (the last one wins): a load is one cheap read, and
    locking would make every reader wait on the slowest one.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        value = await load()
        self._entries[key] = (time.monotonic() + self.ttl_s, value)
        return value

    def clear(self) -> None:
        self._entries.clear()
