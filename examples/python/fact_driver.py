"""A FACT-style LLM driver: cache-first answers through a disk failure and recovery.

The driver hashes each query, asks the cache, and calls the (stand-in) model
only on a miss. Mid-run the cache's disk starts failing (the chaos API injects
EIO on every disk call): the driver keeps answering, from memory where it can
and from the model otherwise, and no cache call raises. When the disk comes
back, the background recovery probes it, the breakers close and the writes
kept in memory are replayed to disk.

    python examples/python/fact_driver.py [DIRECTORY]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from typing import Any, Dict, Tuple

from sturdycache import Cache
from sturdycache.integrations.fact import ResilientCache

QUERIES = [
    "What is the capital of France?",
    "Summarise the Q3 revenue report.",
    "Which customers churned last month?",
    "Explain the circuit breaker pattern.",
    "List open incidents by severity.",
]


class StandInLLM:
    """Answers after a short delay; counts calls (each one costs money)."""

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, query: str) -> str:
        self.calls += 1
        await asyncio.sleep(0.01)
        return f"[answer #{self.calls}] {query[::-1]}"


class Driver:
    def __init__(self, cache: ResilientCache, llm: StandInLLM) -> None:
        self.cache = cache
        self.llm = llm

    async def process_query(self, query: str) -> Tuple[str, bool]:
        query_hash = self.cache.generate_hash(query)
        cached = await self.cache.get(query_hash)
        if cached is not None:
            return cached, True
        answer = await self.llm.complete(query)
        self.cache.store(query_hash, answer)
        return answer, False


def summary(metrics: Dict[str, Any]) -> str:
    b, c = metrics["circuit_breaker"], metrics["cache"]
    return (
        f"breaker={b['state']:<9} mode={b['mode']:<11} failure_rate={b['failure_rate']:.2f} "
        f"hit_rate={c['hit_rate']:.2f} queued_writes={c['queued_writes']}"
    )


async def run(directory: str) -> None:
    # Short breaker open time so the demo recovers in seconds (the default is 60 s).
    cache = ResilientCache(directory, ttl=3600, breaker={"open_timeout": 0.3, "max_open_timeout": 2.0})
    llm = StandInLLM()
    driver = Driver(cache, llm)
    recovered = threading.Event()
    cache.cache.on("mode_changed", lambda e: print(f"  event: mode {e['from']} -> {e['to']} (incident {e['incident']})"))
    cache.cache.on("recovered", lambda e: (print(f"  event: recovered, {e['drained']} writes replayed"), recovered.set()))

    print("phase 1: healthy disk")
    for _ in range(2):
        for q in QUERIES[:3]:
            await driver.process_query(q)
    print(f"  llm calls: {llm.calls} (3 queries asked twice)")
    print(" ", summary(cache.get_metrics()))

    print("phase 2: the disk fails (EIO on every call)")
    new_queries = [f"Ticket #{n}: what is its status?" for n in range(8)]
    with cache.cache.faults.inject("all", "eio"):
        hits = asked = 0
        for _ in range(2):
            for q in QUERIES + new_queries:
                _, hit = await driver.process_query(q)
                hits += hit
                asked += 1
        print(f"  answered {asked} queries, {hits} from the cache, no exception; llm calls: {llm.calls}")
        print(" ", summary(cache.get_metrics()))
        assert cache.cache.mode != "normal", "the breakers should have opened"

    print("phase 3: the disk is back; traffic continues while recovery probes it")
    started = time.monotonic()
    while not recovered.is_set():
        if time.monotonic() - started > 60:
            raise SystemExit("the cache did not recover within 60 s")
        for q in QUERIES:
            await driver.process_query(q)
        await asyncio.sleep(0.05)
    cache.cache.flush_events()
    print(f"  recovered after {time.monotonic() - started:.1f} s")
    print(" ", summary(cache.get_metrics()))

    # Answers stored during the outage reached the disk: a fresh process would see them.
    other = Cache(directory)
    asked_all = QUERIES + new_queries
    on_disk = sum(other.get(cache.prefix + cache.generate_hash(q)) is not None for q in asked_all)
    print(f"  answers on disk for {on_disk}/{len(asked_all)} queries (read by a second cache instance)")
    assert on_disk == len(asked_all)
    other.close()
    cache.close()
    print("done: no request failed because of the cache")


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="sturdycache-fact-")))
