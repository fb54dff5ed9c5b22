"""The diskcache-shaped API and the mapping protocol."""

from __future__ import annotations

import datetime
import io
import os
import pickle
from pathlib import Path

import pytest

from sturdycache import Cache, ManualClock


def test_set_get_round_trip_and_default(cache: Cache) -> None:
    assert cache.set("a", b"1") is True
    assert cache.get("a") == b"1"
    assert cache.get("missing") is None
    assert cache.get("missing", default=7) == 7


def test_mapping_protocol(cache: Cache) -> None:
    cache["k"] = "v"
    assert cache["k"] == "v"
    assert "k" in cache
    assert "nope" not in cache
    assert len(cache) == 1
    del cache["k"]
    assert "k" not in cache
    with pytest.raises(KeyError):
        cache["k"]
    with pytest.raises(KeyError):
        del cache["k"]


def test_len_and_iteration(cache: Cache) -> None:
    keys = {"a", "b", 3, ("t", 1), b"\x80raw"}
    for k in keys:
        cache[k] = 1
    assert len(cache) == 5
    assert set(cache) == keys
    assert set(cache.iterkeys()) == keys


def test_add_only_when_absent(cache: Cache) -> None:
    assert cache.add("k", 1) is True
    assert cache.add("k", 2) is False
    assert cache["k"] == 1


def test_pop_and_delete(cache: Cache) -> None:
    cache["k"] = "v"
    assert cache.pop("k") == "v"
    assert cache.pop("k") is None
    assert cache.pop("k", default="d") == "d"
    cache["k"] = "v"
    assert cache.delete("k") is True
    assert cache.delete("k") is False


def test_clear_counts_entries(cache: Cache) -> None:
    for i in range(5):
        cache[i] = i
    assert cache.clear() == 5
    assert len(cache) == 0


def test_expire_and_touch_on_the_fake_clock(clocked: Cache, clock: ManualClock) -> None:
    clocked.set("short", 1, expire=10)
    clocked.set("forever", 2)
    clocked.set("delta", 3, expire=datetime.timedelta(seconds=5))
    clock.advance(6)
    assert clocked.get("delta") is None
    assert clocked.get("short") == 1
    assert clocked.touch("short", expire=100) is True
    clock.advance(50)
    assert clocked.get("short") == 1
    clock.advance(60)
    assert clocked.get("short") is None
    assert clocked.get("forever") == 2
    assert clocked.touch("missing", expire=1) is False


def test_expire_sweeps_expired_entries(clocked: Cache, clock: ManualClock) -> None:
    for i in range(3):
        clocked.set(i, i, expire=1)
    clocked.set("keep", 1)
    clock.advance(2)
    assert clocked.expire() == 3
    assert len(clocked) == 1


def test_default_ttl_setting(tmp_path: Path, clock: ManualClock) -> None:
    c = Cache(tmp_path, clock=clock, default_ttl=datetime.timedelta(seconds=30))
    c["k"] = 1
    c.set("never", 1, expire=float("inf"))
    clock.advance(31)
    assert "k" not in c
    assert "never" in c
    c.close()


def test_evict_by_tag(cache: Cache) -> None:
    cache.set("a", 1, tag="users")
    cache.set("b", 2, tag="users")
    cache.set("c", 3, tag="pages")
    assert cache.evict("users") == 2
    assert list(cache) == ["c"]


def test_volume_counts_disk_bytes(cache: Cache) -> None:
    assert cache.volume() == 0
    cache["k"] = b"x" * 1000
    assert cache.volume() > 1000


def test_stats_is_a_dict_with_hits_and_misses(cache: Cache) -> None:
    cache["k"] = 1
    cache.get("k")
    cache.get("missing")
    s = cache.stats()
    assert s["hits"] >= 1 and s["misses"] >= 1
    assert 0 < s["hit_rate"] < 1
    assert s["resilience"]["mode"] == "normal"
    assert set(s["disk_errors"]) == {"no_space", "read_only", "permission_denied", "io", "timed_out", "other"}


def test_check_verifies_every_entry(cache: Cache) -> None:
    for i in range(4):
        cache[i] = b"v" * 100
    report = cache.check()
    assert report == {"scanned": 4, "valid": 4, "expired": 0, "quarantined": 0, "errors": 0}


def test_check_quarantines_a_corrupt_file(cache: Cache) -> None:
    cache["k"] = b"v" * 100
    [entry] = [p for p in Path(cache.directory, "data").rglob("*") if p.is_file()]
    data = bytearray(entry.read_bytes())
    data[60] ^= 0xFF
    entry.write_bytes(bytes(data))
    report = cache.check()
    assert report["quarantined"] == 1 and report["valid"] == 0
    assert any(Path(cache.directory, "quarantine").iterdir())


def test_read_wraps_bytes_in_a_file(cache: Cache) -> None:
    cache.set("f", io.BytesIO(b"content"), read=True)
    handle = cache.get("f", read=True)
    assert isinstance(handle, io.BytesIO) and handle.read() == b"content"
    assert cache.read("f").read() == b"content"


def test_context_manager_and_idempotent_close_then_reopen(tmp_path: Path) -> None:
    with Cache(tmp_path) as c:
        c["k"] = "v"
    c.close()
    c.close()
    assert c["k"] == "v"  # reopened on use, as diskcache does
    c.close()


def test_temporary_directory_by_default() -> None:
    c = Cache()
    assert os.path.isdir(c.directory)
    c["k"] = 1
    assert c["k"] == 1
    c.close()


def test_pickled_cache_opens_the_same_directory(cache: Cache) -> None:
    cache["k"] = "v"
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.directory == cache.directory and clone["k"] == "v"
    clone.close()


def test_settings_as_keywords(tmp_path: Path) -> None:
    c = Cache(
        tmp_path,
        memory_limit="8MiB",
        disk_limit=10_000_000,
        durability="fsync",
        compression_threshold="1KiB",
        sweep_interval=None,
        breaker={"failure_threshold": 3, "open_timeout": datetime.timedelta(seconds=5)},
    )
    s = c.stats()
    assert s["hot_limit"] == 8 << 20 and s["disk_limit"] == 10_000_000
    c["k"] = b"z" * 5000
    assert c["k"] == b"z" * 5000
    c.close()


def test_size_limit_is_diskcache_name_for_disk_limit(tmp_path: Path) -> None:
    c = Cache(tmp_path, size_limit="1MB")
    assert c.stats()["disk_limit"] == 1_000_000
    c.close()
    with pytest.raises(TypeError, match="not both"):
        Cache(tmp_path, size_limit=1, disk_limit=1)


def test_write_behind_flush_and_close_persist(tmp_path: Path) -> None:
    c = Cache(tmp_path, write_mode="write_behind")
    for i in range(50):
        c[i] = i
    assert c.flush() is True
    c.close()
    reopened = Cache(tmp_path)
    assert [reopened[i] for i in range(50)] == list(range(50))
    reopened.close()


def test_other_processes_writes_are_seen(tmp_path: Path) -> None:
    a, b = Cache(tmp_path), Cache(tmp_path)
    a["k"] = 1
    assert b["k"] == 1
    b["k"] = 2
    assert a["k"] == 2  # the hot tier of `a` never serves the old value
    a.close()
    b.close()


def test_unsupported_diskcache_options_say_so(cache: Cache) -> None:
    cache["k"] = 1
    with pytest.raises(NotImplementedError, match="MIGRATING"):
        cache.get("k", expire_time=True)
    with pytest.raises(NotImplementedError):
        cache.pop("k", tag=True)


def test_repr_html_shows_state_at_a_glance(cache: Cache) -> None:
    cache["k"] = b"x" * 100
    cache.get("k")
    cache.get("miss")
    page = cache._repr_html_()
    for text in ("memory tier", "disk tier", "hit rate", "normal", "read breaker", "write breaker", "closed"):
        assert text in page
    assert "50.0%" in page


def test_repr_html_escapes_the_directory(tmp_path: Path) -> None:
    c = Cache(tmp_path / "<b>dir")
    assert "&lt;b&gt;dir" in c._repr_html_() and "<b>dir" not in c._repr_html_()
    c.close()


def test_prometheus_text(cache: Cache) -> None:
    cache["k"] = 1
    text = cache.prometheus()
    assert "# TYPE" in text and "sturdycache_" in text


def test_version_and_parse_size() -> None:
    import sturdycache

    assert sturdycache.__version__.count(".") == 2
    assert sturdycache.parse_size("512MiB") == 512 << 20
    assert sturdycache.parse_size("1GB") == 10**9
    with pytest.raises(ValueError, match="not a size"):
        sturdycache.parse_size("lots")


def test_hot_hits_share_one_immutable_object_charged_to_the_budget(cache: Cache) -> None:
    value = b"v" * 1000
    cache["k"] = value
    before = cache.stats()["hot_bytes"]
    first = cache.get("k")
    assert first == value
    # The decoded bytes object is kept with the hot entry and counted (value
    # length + 64); later hits, by get or [], hand out that same object.
    assert cache.stats()["hot_bytes"] == before + len(value) + 64
    assert cache.get("k") is first and cache["k"] is first
    cache["k"] = "text"
    assert cache.get("k") == "text", "a new value is never answered by the old object"
    assert cache.get("k") is cache.get("k")
    del cache["k"]
    assert cache.stats()["hot_bytes"] == 0, "removing the entry uncharges its object"


def test_mutable_values_are_never_shared_between_reads(cache: Cache) -> None:
    cache["k"] = [1, 2]
    first = cache.get("k")
    first.append(3)
    assert cache.get("k") == [1, 2] and cache.get("k") is not cache.get("k")
    cache["b"] = bytearray(b"ab")
    assert cache.get("b") == b"ab" and type(cache.get("b")) is bytes


def test_get_keeps_its_diskcache_signature(cache: Cache) -> None:
    import inspect

    cache["k"] = b"x"
    params = list(inspect.signature(Cache.get).parameters)
    assert params == ["self", "key", "default", "read", "expire_time", "tag", "retry"]
    assert cache.get(key="k") == b"x" and cache.get("nope", default=3) == 3
    assert cache.get("k", None, True).read() == b"x"
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        cache.get()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unsupported key type"):
        cache.get(["unhashable"])
