"""The FACT-style integration: interface, fallbacks, metrics shape."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sturdycache import ManualClock
from sturdycache.integrations.fact import ResilientCache

from .conftest import recover


def test_hash_store_get_invalidate(tmp_path: Path) -> None:
    cache = ResilientCache(str(tmp_path))
    h = cache.generate_hash("What is the capital of France?")
    assert h == cache.generate_hash("  What is the capital of France?\n") and len(h) == 64
    assert asyncio.run(cache.get(h)) is None
    assert cache.store(h, "Paris") is True
    assert asyncio.run(cache.get(h)) == "Paris"
    assert cache.get_sync(h) == "Paris"
    assert asyncio.run(cache.set("other", {"answer": 42})) is True
    assert cache.invalidate(h) == 1 and cache.invalidate(h) == 0
    assert cache.invalidate() == 1  # everything stored through the adapter
    assert asyncio.run(cache.delete("other")) is False
    cache.close()


def test_metrics_shape(tmp_path: Path) -> None:
    cache = ResilientCache(str(tmp_path))
    cache.store("h", "x")
    asyncio.run(cache.get("h"))
    asyncio.run(cache.get("missing"))
    m = cache.get_metrics()
    assert m["circuit_breaker"]["state"] == "closed"
    assert m["circuit_breaker"]["failure_rate"] == 0.0
    assert m["cache"]["hit_rate"] == 0.5 and m["cache"]["stores"] == 1
    cache.close()


def test_fallbacks_while_the_disk_fails(tmp_path: Path) -> None:
    clock = ManualClock()
    cache = ResilientCache(str(tmp_path), clock=clock)
    cache.store("before", "on disk")
    with cache.cache.faults.inject("all", "eio"):
        assert cache.store("during", "kept in memory") is True  # store -> True
        for i in range(10):
            assert asyncio.run(cache.get(f"cold{i}")) is None  # get -> miss, never an exception
        assert asyncio.run(cache.get("during")) == "kept in memory"
        m = cache.get_metrics()
        assert m["circuit_breaker"]["state"] == "open"
        assert m["circuit_breaker"]["failure_rate"] > 0.5
        assert m["cache"]["queued_writes"] >= 1
    recover(cache.cache, clock)
    assert cache.get_metrics()["circuit_breaker"]["state"] == "closed"
    assert asyncio.run(cache.get("during")) == "kept in memory"
    cache.close()


def test_refused_input_returns_false(tmp_path: Path) -> None:
    cache = ResilientCache(str(tmp_path), max_value_size=100)
    assert cache.store("h", "x" * 1000) is False
    assert cache.get_metrics()["cache"]["refused"] == 1
    cache.close()
