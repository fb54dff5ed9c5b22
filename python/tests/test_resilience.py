"""The chaos API and the resilience it exercises, seen from Python: modes,
breakers, events, replay and recovery, health and metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from sturdycache import Cache, ManualClock

from .conftest import Events, recover


def test_a_full_disk_degrades_to_memory_and_recovers(clocked: Cache, clock: ManualClock) -> None:
    events = Events(clocked)
    clocked["before"] = "on disk"
    with clocked.faults.inject("write", "enospc") as fault:
        for i in range(8):
            assert clocked.set(("k", i), i) is True  # never fails because of the disk
        assert clocked.mode == "read_only"
        assert [clocked[("k", i)] for i in range(8)] == list(range(8))  # served from memory
        assert clocked["before"] == "on disk"  # reads still reach the disk
        health = clocked.health()
        assert health["write_breaker"] == "open" and health["replay_depth"] > 0
        assert health["last_error"]["kind"] == "no_space"
        assert isinstance(fault.id, int) and clocked.faults.active == 1
    assert clocked.faults.active == 0
    recover(clocked, clock)
    assert events.names()[:3] == ["breaker_state_changed", "disk_health_changed", "mode_changed"]
    [changed] = [e for e in events.of("mode_changed") if e["to"] == "read_only"]
    assert changed["from"] == "normal" and "no_space" in changed["cause"]
    [recovered] = events.of("recovered")
    assert recovered["mode"] == "normal" and recovered["drained"] == 8
    assert recovered["incident"] == changed["incident"]
    other = Cache(clocked.directory)  # the replayed writes are on disk now
    assert [other[("k", i)] for i in range(8)] == list(range(8))
    other.close()


def test_failing_reads_go_memory_only(clocked: Cache, clock: ManualClock) -> None:
    events = Events(clocked, "mode_changed")
    clocked["hot"] = 1
    with clocked.faults.inject("read", "eio"):
        for i in range(10):
            clocked.get(("cold", i))  # misses go to the failing disk
        assert clocked.mode == "memory_only"
        assert clocked["hot"] == 1  # memory still answers
        assert clocked.get("cold") is None
    recover(clocked, clock)
    assert [e["to"] for e in events.of("mode_changed")] == ["memory_only", "normal"]


def test_corrupted_read_is_a_miss_and_persistent_corruption_is_quarantined(cache: Cache) -> None:
    cache["k"] = b"value" * 20
    cache["j"] = b"other" * 20
    cache.close()  # reopen so the next reads come from disk
    events = Events(cache, "quarantined")
    cache.wait_ready()  # the opening scan is done: the faults meet our reads
    with cache.faults.inject("read", "corruption", times=1):
        assert cache.get("k") is None  # the flipped bit is never returned
    # A transient flip: the quarantine's re-read verified, so the file was put back.
    assert cache.stats()["corruptions"] == 1 and cache.stats()["quarantined"] == 0
    assert cache.get("k") == b"value" * 20
    with cache.faults.inject("read", "corruption"):
        assert cache.get("j") is None
    [event] = events.of("quarantined")
    # The flipped bit lands anywhere: the first failing check names it.
    assert event["reason"] in {"bad-magic", "bad-length", "bad-header", "bad-checksum", "bad-compression"}
    assert Path(event["path"]).parent.name == "quarantine"
    assert cache.stats()["quarantined"] == 1
    assert cache.get("j") is None


def test_probability_and_times_triggers(cache: Cache) -> None:
    never = cache.faults.inject("write", "eio", probability=0.0)
    cache["k"] = 1
    assert cache.faults.injected == 0 and never.remove() is True and never.remove() is False
    cache.faults.inject("write", "eio", times=2)
    cache["a"] = 1
    assert cache.faults.injected >= 1
    cache.faults.clear()
    assert cache.faults.active == 0


def test_bad_fault_arguments(cache: Cache) -> None:
    with pytest.raises(ValueError, match="op must be"):
        cache.faults.inject("everything", "eio")
    with pytest.raises(ValueError, match="error must be"):
        cache.faults.inject("read", "explode")
    with pytest.raises(ValueError, match="delay="):
        cache.faults.inject("read", "delay")
    with pytest.raises(ValueError, match="probability"):
        cache.faults.inject("read", "eio", probability=2.0)
    with pytest.raises(ValueError, match="corruption"):
        cache.faults.inject("write", "corruption")


def test_operator_override_of_a_breaker(cache: Cache) -> None:
    events = Events(cache, "mode_changed")
    cache.override_breaker("write", "forced_open")
    assert cache.mode == "read_only"
    cache["k"] = "kept in memory"
    assert cache["k"] == "kept in memory"
    cache.override_breaker("write", "closed")
    assert cache.mode == "normal"
    assert [e["to"] for e in events.of("mode_changed")] == ["read_only", "normal"]
    with pytest.raises(ValueError, match="state must be"):
        cache.override_breaker("write", "ajar")


def test_listener_errors_are_logged_not_raised(cache: Cache, caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: dict) -> None:
        raise RuntimeError("listener bug")

    seen = []
    cache.on("mode_changed", broken)
    cache.on("mode_changed", seen.append)
    cache.override_breaker("read", "forced_open")
    cache.flush_events()
    assert len(seen) == 1
    assert any("listener bug" in r.getMessage() or "listener bug" in str(r.exc_info) for r in caplog.records)
    assert cache.off("mode_changed", broken) is True and cache.off("mode_changed", broken) is False
    with pytest.raises(ValueError, match="unknown event"):
        cache.on("exploded", print)


def test_on_as_a_decorator(cache: Cache) -> None:
    seen = []

    @cache.on("breaker_state_changed")
    def record(event: dict) -> None:
        seen.append((event["breaker"], event["to"]))

    cache.override_breaker("read", "forced_open")
    cache.flush_events()
    assert seen == [("read", "forced_open")]


def test_health_and_metrics_shape(cache: Cache) -> None:
    h = cache.health()
    assert h["mode"] == "normal" and h["disk_health"] == "healthy"
    assert h["read_breaker"] == h["write_breaker"] == "closed"
    assert h["coherent_across_processes"] is True
    s = cache.stats()
    breaker = s["resilience"]["read_breaker"]
    assert {"state", "failure_rate", "trips", "consecutive_failures"} <= breaker.keys()
    assert {"queued", "drained", "dropped", "depth"} <= s["replay"].keys()


def test_listeners_survive_close_and_reopen(cache: Cache) -> None:
    seen = []
    cache.on("mode_changed", seen.append)
    cache.close()
    cache.override_breaker("write", "forced_open")  # reopens the cache
    cache.flush_events()
    assert [e["to"] for e in seen] == ["read_only"]
