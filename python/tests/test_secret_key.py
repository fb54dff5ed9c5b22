"""secret_key: every entry authenticated; tampered or unauthenticated entries
are quarantined and never reach the unpickler."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Tuple

import pytest
import xxhash

from sturdycache import Cache

from .conftest import Events


class Evil:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Tuple[Any, ...]:
        return (os.mkdir, (self.marker,))


def _entry(directory: str) -> Path:
    [path] = [p for p in Path(directory, "data").rglob("*") if p.is_file() and not p.name.startswith(".")]
    return path


def test_round_trip_with_a_secret(tmp_path: Path) -> None:
    a = Cache(tmp_path, secret_key=b"k" * 32)
    a["obj"] = {"deep": [1, 2]}
    b = Cache(tmp_path, secret_key=b"k" * 32)
    assert b["obj"] == {"deep": [1, 2]}
    c = Cache(tmp_path / "text", secret_key="a passphrase")  # str secrets are their UTF-8 bytes
    c["x"] = 1
    assert Cache(tmp_path / "text", secret_key=b"a passphrase")["x"] == 1
    for cache in (a, b, c):
        cache.close()


def test_an_unauthenticated_pickle_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    attacker = Cache(tmp_path / "cache")  # someone who can write the directory, without the key
    attacker["session"] = Evil(str(marker))
    attacker.close()
    victim = Cache(tmp_path / "cache", secret_key=b"s" * 32)
    events = Events(victim, "quarantined")
    assert victim.get("session") is None
    assert not marker.exists()
    [event] = events.of("quarantined")
    assert event["reason"] == "bad-mac"
    victim.close()
    # Control: without a secret the same entry would have run code.
    Cache(tmp_path / "control")["session"] = Evil(str(marker))
    Cache(tmp_path / "control").get("session")
    assert marker.exists()


def test_tampered_bytes_with_a_valid_checksum_are_quarantined(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cache = Cache(tmp_path / "cache", secret_key=b"s" * 32)
    cache["k"] = ["payload", "x" * 64]
    cache.close()
    path = _entry(str(tmp_path / "cache"))
    data = bytearray(path.read_bytes())
    data[-60] ^= 0x01  # inside the pickled value
    data[-8:] = xxhash.xxh3_64_intdigest(bytes(data[:-8])).to_bytes(8, "little")  # a checksum that matches
    path.write_bytes(bytes(data))
    events = Events(cache, "quarantined")
    cache.wait_ready()
    assert cache.get("k") is None
    assert [e["reason"] for e in events.of("quarantined")] == ["bad-mac"]
    assert not marker.exists()


def test_the_wrong_secret_reads_nothing(tmp_path: Path) -> None:
    Cache(tmp_path, secret_key=b"right")["k"] = 1
    wrong = Cache(tmp_path, secret_key=b"wrong")
    assert wrong.get("k") is None
    assert wrong.stats()["quarantined"] == 1
    wrong.close()


def test_check_audits_macs(tmp_path: Path) -> None:
    plain = Cache(tmp_path)
    for i in range(3):
        plain[i] = i
    plain.close()
    keyed = Cache(tmp_path, secret_key=b"s" * 16)
    keyed[99] = 99
    report = keyed.check()
    assert report["scanned"] == 4 and report["valid"] == 1 and report["quarantined"] == 3
    keyed.close()


def test_empty_or_mistyped_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        Cache(tmp_path, secret_key=b"")
    with pytest.raises(TypeError, match="secret_key"):
        Cache(tmp_path, secret_key=123)  # type: ignore[arg-type]
