"""A per-process cache whose entries live a fixed time (monotonic clock)."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from observability import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger(__name__)


class TtlCache(Generic[K, V]):
    """Answers `get` from memory for `ttl_s` seconds after loading a value.

    One load per key at a time: the readers that miss while it runs wait for that same load
    (under a burst, every request in flight would otherwise start its own). With
    `serve_stale`, during the `ttl_s` after an entry expires readers get it at once while one
    load refreshes it in the background, so no reader waits for a refresh, and an answer is
    at most about 2 × `ttl_s` old; without, an answer is at most `ttl_s` old. `forget` drops
    a key at once, and a load that was already running when it was forgotten is not kept
    (it may have read what the change made stale).
    """

    def __init__(
        self,
        ttl_s: float,
        name: str = "",
        monotonic: Callable[[], float] = time.monotonic,
        *,
        serve_stale: bool = False,
    ) -> None:
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._serve_stale = serve_stale
        self.name = name  # counted as `paredao_cache_requests_total{cache=name}` when named
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}
        self._forgotten: dict[K, int] = {}  # key → how many times it was forgotten

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None:
            now = self._monotonic()
            if entry[0] > now:
                if self.name:
                    metrics.cache_read(self.name, hit=True)
                return entry[1]
            if self._serve_stale and entry[0] + self.ttl_s > now:  # refresh behind the reader
                if self.name:
                    metrics.cache_read(self.name, hit=True)
                if key not in self._loading:
                    self._start_load(key, load).add_done_callback(_log_failure)
                return entry[1]
        if self.name:
            metrics.cache_read(self.name, hit=False)
        return await asyncio.shield(self._start_load(key, load))

    def _start_load(self, key: K, load: Callable[[], Awaitable[V]]) -> asyncio.Future[V]:
        """The load of `key` running now, or a new one."""
        running = self._loading.get(key)
        if running is not None:
            return running
        # The generation now, not when the task first runs: a forget in between counts.
        task = asyncio.ensure_future(self._load(key, load, self._forgotten.get(key, 0)))
        task.add_done_callback(_retrieve)  # its readers, if any are left, get the error
        self._loading[key] = task
        return task

    async def _load(self, key: K, load: Callable[[], Awaitable[V]], generation: int) -> V:
        try:
            value = await load()
        finally:
            if self._loading.get(key) is asyncio.current_task():
                del self._loading[key]
        if self._forgotten.get(key, 0) == generation:
            self._entries[key] = (self._monotonic() + self.ttl_s, value)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
        self._loading.pop(key, None)  # readers from now on start a load of their own
        self._forgotten[key] = self._forgotten.get(key, 0) + 1

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()


def _retrieve(load: "asyncio.Future[Any]") -> None:
    if not load.cancelled():
        load.exception()


def _log_failure(load: "asyncio.Future[Any]") -> None:
    """A background refresh that failed: the next reader past the entry's life loads again."""
    if not load.cancelled() and (error := load.exception()) is not None:
        log.warning("a cache refresh failed: %s", error)
