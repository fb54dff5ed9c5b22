"""asyncio methods: results, and an event loop that keeps running while the disk is slow."""

from __future__ import annotations

import asyncio
import time

from sturdycache import Cache


def test_async_methods(cache: Cache) -> None:
    async def main() -> None:
        assert await cache.aset("k", {"v": 1}, expire=60, tag="t") is True
        assert await cache.aget("k") == {"v": 1}
        assert await cache.aget("missing", "d") == "d"
        assert await cache.aadd("k", 2) is False
        assert await cache.aadd("new", 2) is True
        assert await cache.atouch("k", 120) is True
        assert await cache.apop("new") == 2
        assert await cache.apop("new", "gone") == "gone"
        assert await cache.adelete("k") is True
        assert await cache.adelete("k") is False

    asyncio.run(main())


def test_event_loop_keeps_running_during_a_slow_disk_read(cache: Cache) -> None:
    cache["k"] = b"v" * 100
    cache.close()  # reopen: the value is on disk only, so aget reads the disk
    cache.wait_ready()  # the opening scan is done: the one-shot fault meets our read
    ticks = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    async def main() -> bytes:
        stop = asyncio.Event()
        task = asyncio.create_task(ticker(stop))
        await asyncio.sleep(0)
        with cache.faults.inject("read", "delay", delay=0.3, times=1):
            started = time.monotonic()
            value = await cache.aget("k")
            elapsed = time.monotonic() - started
        stop.set()
        await task
        assert elapsed >= 0.3  # the read did wait for the injected stall...
        return value  # type: ignore[no-any-return]

    assert asyncio.run(main()) == b"v" * 100
    # ...and the loop ticked all along (a blocked loop would tick about once).
    assert len(ticks) >= 10
