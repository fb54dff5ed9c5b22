"""An asyncio service: non-blocking cache calls and a single-flight async memoize.

Twenty concurrent requests for the same expensive answer run the computation
once; the event loop keeps serving while the cache reads and writes.

    python examples/python/async_service.py
"""

from __future__ import annotations

import asyncio
import tempfile

from sturdycache import Cache

cache = Cache(tempfile.mkdtemp(prefix="sturdycache-async-"))
computations = 0


@cache.memoize(expire=300)
async def embed(text: str) -> list[float]:
    """Stands in for a slow remote call (an embedding or LLM API)."""
    global computations
    computations += 1
    await asyncio.sleep(0.1)
    return [float(ord(c)) for c in text[:8]]


async def handle(request_id: int, text: str) -> str:
    vector = await embed(text)
    await cache.aset(("last-request", request_id % 4), text, expire=60)
    return f"request {request_id}: {len(vector)} dims"


async def main() -> None:
    answers = await asyncio.gather(*(handle(i, "the same question") for i in range(20)))
    print(answers[0], "...", answers[-1])
    print("computations for 20 concurrent identical requests:", computations)
    print("last request seen in slot 3:", await cache.aget(("last-request", 3)))
    assert computations == 1


if __name__ == "__main__":
    asyncio.run(main())
    cache.close()
