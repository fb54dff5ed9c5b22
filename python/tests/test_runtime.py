"""The GIL is released around disk calls; core log records reach `logging`."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from sturdycache import Cache


def test_gil_is_released_while_the_disk_is_slow(cache: Cache) -> None:
    cache["k"] = b"v"
    cache.close()
    cache.wait_ready()
    done = threading.Event()
    progress = 0

    def slow_reader() -> None:
        with cache.faults.inject("read", "delay", delay=0.3, times=1):
            cache.get("k")
        done.set()

    reader = threading.Thread(target=slow_reader)
    reader.start()
    while not done.is_set():
        progress += 1  # pure Python work: runs only while the reader does not hold the GIL
    reader.join()
    # 0.3 s of a free GIL is millions of increments; a held GIL would allow a
    # handful (the reader would keep it for the whole stall).
    assert progress > 100_000


def test_many_threads_share_a_cache(cache: Cache) -> None:
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                cache[(n, i)] = i
                assert cache[(n, i)] == i
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) == 1600


def test_core_log_records_reach_the_sturdycache_logger(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = Cache(tmp_path)
    c["k"] = b"value"
    c.close()
    c.wait_ready()  # reopened and scanned: the read below meets the damage
    [entry] = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    entry.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="sturdycache"):
        assert c.get("k") is None
    records = [r for r in caplog.records if r.name.startswith("sturdycache.")]
    assert any("quarantined" in r.getMessage() and r.levelno == logging.WARNING for r in records)


def test_log_levels_set_in_python_are_honoured(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger("sturdycache").setLevel(logging.ERROR)
    try:
        c = Cache(tmp_path)
        c["k"] = b"value"
        c.close()
        c.wait_ready()
        [entry] = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
        entry.write_bytes(b"garbage")
        with caplog.at_level(logging.WARNING):
            c.get("k")
        assert not [r for r in caplog.records if r.name.startswith("sturdycache.")]
    finally:
        logging.getLogger("sturdycache").setLevel(logging.NOTSET)
