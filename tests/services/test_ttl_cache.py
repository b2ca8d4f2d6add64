"""The per-process cache: one load per key at a time, stale entries refreshed behind readers."""

import asyncio

import pytest

from services.ttl_cache import TtlCache


class Loads:
    """A load that counts its calls and finishes when the test says so."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> int:
        self.calls += 1
        call = self.calls
        await self.release.wait()
        return call


async def test_concurrent_misses_share_one_load() -> None:
    cache: TtlCache[int, int] = TtlCache(1.0)
    load = Loads()
    readers = [asyncio.create_task(cache.get(1, load)) for _ in range(50)]
    await asyncio.sleep(0)
    load.release.set()
    assert await asyncio.gather(*readers) == [1] * 50
    assert load.calls == 1


async def test_an_entry_just_expired_is_served_while_one_load_refreshes_it() -> None:
    now = [100.0]
    cache: TtlCache[int, int] = TtlCache(1.0, monotonic=lambda: now[0], serve_stale=True)
    load = Loads()
    load.release.set()
    assert await cache.get(1, load) == 1
    now[0] += 1.5  # expired, within the refresh window
    load.release.clear()
    assert [await cache.get(1, load) for _ in range(3)] == [1, 1, 1]  # nobody waits
    await asyncio.sleep(0)
    assert load.calls == 2  # one refresh started, not three
    load.release.set()
    await asyncio.sleep(0.01)
    assert await cache.get(1, load) == 2
    now[0] += 5  # long expired: the reader waits for a fresh load
    assert await cache.get(1, load) == 3


async def test_a_forgotten_key_is_loaded_again_and_the_old_load_not_kept() -> None:
    now = [0.0]
    cache: TtlCache[int, int] = TtlCache(1.0, monotonic=lambda: now[0])
    load = Loads()
    first = asyncio.create_task(cache.get(1, load))
    await asyncio.sleep(0)
    cache.forget(1)  # the running load may have read what the change made stale
    second = asyncio.create_task(cache.get(1, load))
    await asyncio.sleep(0)
    load.release.set()
    assert (await first, await second) == (1, 2)
    assert await cache.get(1, load) == 2  # the load started after the forget is the one kept


async def test_a_failed_load_reaches_every_waiting_reader() -> None:
    cache: TtlCache[int, int] = TtlCache(1.0)

    async def failing() -> int:
        await asyncio.sleep(0)
        raise OSError("database down")

    results = await asyncio.gather(
        *(cache.get(1, failing) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)
    with pytest.raises(OSError):
        await cache.get(1, failing)  # nothing was cached


async def test_without_serve_stale_an_expired_entry_is_loaded_again_before_answering() -> None:
    now = [100.0]
    cache: TtlCache[int, int] = TtlCache(1.0, monotonic=lambda: now[0])
    load = Loads()
    load.release.set()
    assert await cache.get(1, load) == 1
    now[0] += 1.5
    assert await cache.get(1, load) == 2  # never older than ttl_s
