"""Shared fixtures: a cache in a fresh directory, a fake clock, and helpers
that wait on observable conditions (never on the passage of time alone)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

from sturdycache import Cache, ManualClock

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "vectors"


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    c = Cache(tmp_path / "cache")
    yield c
    c.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked(tmp_path: Path, clock: ManualClock) -> Iterator[Cache]:
    """A cache on the fake clock (expiry, breaker open times move with it)."""
    c = Cache(tmp_path / "clocked", clock=clock)
    yield c
    c.close()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Polls an observable condition (another thread's progress) with a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def recover(cache: Cache, clock: ManualClock, rounds: int = 50) -> None:
    """Moves the fake clock past the breaker's open time and runs recovery
    rounds until the cache is back to normal."""
    clock.advance(61)
    for _ in range(rounds):
        if cache.mode == "normal":
            return
        cache.run_recovery()
    assert cache.mode == "normal", cache.health()


class Events:
    """Collects events delivered to a listener."""

    def __init__(self, cache: Cache, name: str = "*") -> None:
        self.cache = cache
        self.seen: List[dict[str, Any]] = []
        cache.on(name, self.seen.append)

    def names(self) -> List[str]:
        self.cache.flush_events()
        return [e["event"] for e in self.seen]

    def of(self, name: str) -> List[dict[str, Any]]:
        self.cache.flush_events()
        return [e for e in self.seen if e["event"] == name]
