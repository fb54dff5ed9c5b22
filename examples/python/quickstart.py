"""sturdycache in five minutes: the diskcache-shaped API, memoize, observability.

    python examples/python/quickstart.py [DIRECTORY]
"""

from __future__ import annotations

import sys
import tempfile
import time

from sturdycache import Cache


def main(directory: str) -> None:
    with Cache(directory, memory_limit="64MiB", disk_limit="1GiB") as cache:
        # Any hashable key; values keep their types (bytes, str, int, float, bool, None, or pickled).
        cache["user:1"] = {"name": "Ada", "langs": ["en", "fr"]}
        cache.set(("report", 2026), b"\x00" * 1024, expire=3600, tag="reports")
        print("user:1 ->", cache["user:1"])
        print("in cache:", ("report", 2026) in cache, "| entries:", len(cache))

        @cache.memoize(expire=600)
        def slow_square(x: int) -> int:
            time.sleep(0.2)  # stands in for an expensive computation
            return x * x

        started = time.perf_counter()
        slow_square(12)
        first = time.perf_counter() - started
        started = time.perf_counter()
        slow_square(12)
        second = time.perf_counter() - started
        print(f"memoize: first call {first * 1000:.0f} ms, second call {second * 1e6:.0f} us")

        print("evicted by tag:", cache.evict("reports"))
        stats = cache.stats()
        print(f"hit rate {stats['hit_rate']:.0%}, disk bytes {cache.volume()}, mode {cache.mode}")
        print("health:", {k: v for k, v in cache.health().items() if k != "last_error"})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="sturdycache-quickstart-"))
