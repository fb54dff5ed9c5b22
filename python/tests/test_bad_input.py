"""Bad input: typed errors whose messages name the limit; nothing stored is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from sturdycache import Cache


def test_oversized_key_names_the_limit_and_keeps_what_is_stored(tmp_path: Path) -> None:
    c = Cache(tmp_path, max_key_size=16)
    c["ok"] = "kept"
    with pytest.raises(ValueError, match=r"key is 17 bytes; the limit \(max_key_size\) is 16 bytes"):
        c["k" * 17] = 1
    with pytest.raises(ValueError, match="max_key_size"):
        c.get("k" * 17)
    assert c["ok"] == "kept" and len(c) == 1
    c.close()


def test_oversized_value_names_the_limit_and_keeps_the_old_value(tmp_path: Path) -> None:
    c = Cache(tmp_path, max_value_size="1KiB")
    c["k"] = b"old"
    with pytest.raises(ValueError, match=r"value is 1025 bytes; the limit \(max_value_size\) is 1024 bytes"):
        c["k"] = b"x" * 1025
    with pytest.raises(ValueError, match="max_value_size"):
        c.add("new", b"x" * 2000)
    assert c["k"] == b"old" and "new" not in c
    c.close()


def test_empty_key(cache: Cache) -> None:
    with pytest.raises(ValueError, match="empty"):
        cache[""] = 1
    with pytest.raises(ValueError, match="empty"):
        cache.get(b"")


def test_oversized_tag(cache: Cache) -> None:
    with pytest.raises(ValueError, match="65535"):
        cache.set("k", 1, tag="t" * 70_000)
    assert "k" not in cache


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"compression_level": 99}, ValueError, "compression_level must be 1..=22, got 99"),
        ({"hot_shards": 3}, ValueError, "hot_shards must be a power of two"),
        ({"memory_limit": "lots"}, ValueError, "memory_limit"),
        ({"memory_limit": -1}, ValueError, "memory_limit is out of range"),
        ({"memory_limit": 1.5}, TypeError, "memory_limit must be an integer"),
        ({"default_ttl": -3}, ValueError, "default_ttl must be a finite, non-negative number of seconds"),
        ({"degraded_memory_factor": 100.0}, ValueError, "degraded_memory_factor must be 1.0..=16.0"),
        ({"durability": "always"}, ValueError, "durability must be 'none' or 'fsync'"),
        ({"write_mode": True}, TypeError, "write_mode must be a string"),
        ({"breaker": {"failure_rate_threshold": 2.0}}, ValueError, "failure_rate_threshold must be within 0.0..=1.0"),
        ({"breaker": {"bogus": 1}}, TypeError, "unknown breaker setting"),
        ({"breaker_failure_kinds": ["io", "gremlins"]}, ValueError, "unknown kind 'gremlins'"),
        ({"eviction_policy": "least-recently-used"}, TypeError, "unknown setting 'eviction_policy'"),
        ({"clock": 5}, TypeError, "clock must be a sturdycache.ManualClock"),
        ({"serializer": "yaml"}, ValueError, "serializer must be 'pickle' or 'json'"),
    ],
)
def test_invalid_settings(tmp_path: Path, settings: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        Cache(tmp_path, **settings)


def test_directory_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        Cache(tmp_path / "file")


def test_bad_expire_and_tag_types(cache: Cache) -> None:
    for expire in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="expire must be a positive number of seconds"):
            cache.set("k", 1, expire=expire)
    for expire in ("10", True):
        with pytest.raises(TypeError, match="expire must be a number of seconds"):
            cache.set("k", 1, expire=expire)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tag must be a str"):
        cache.set("k", 1, tag=b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tag must be a str"):
        cache.memoize(tag=1)  # type: ignore[arg-type]
    assert "k" not in cache


def test_unpicklable_value(cache: Cache) -> None:
    cache["k"] = "kept"
    with pytest.raises((TypeError, AttributeError, Exception)):
        cache["k"] = lambda: None
    assert cache["k"] == "kept"


def test_numbers_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="out of range"):
        Cache(tmp_path, max_replay_entries=2**80)
    with pytest.raises(ValueError, match="expire is out of range"):
        Cache(tmp_path / "b").set("k", 1, expire=1e300)


def test_an_unusable_directory_opens_memory_only() -> None:
    import errno

    import sturdycache

    c = Cache("/proc/sturdycache-cannot-exist")  # no folder can be created there
    assert c.mode == "memory_only"
    c["k"] = 1
    assert c["k"] == 1  # served from memory, queued for a disk that may come back
    assert c.health()["last_error"]["kind"] == "other"
    c.close()
    with pytest.raises(sturdycache.DiskError) as raised:
        Cache("/proc/sturdycache-cannot-exist", fail_on_disk_error=True)
    assert isinstance(raised.value, OSError) and raised.value.errno == errno.ENOENT
    assert raised.value.filename == "/proc/sturdycache-cannot-exist" and raised.value.kind == "other"
