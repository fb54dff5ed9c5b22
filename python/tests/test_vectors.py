"""The committed golden entry files (vectors/) read through the Python package:
served, quarantined or ignored exactly as the manifest says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List

import pytest

from sturdycache import Cache, ManualClock

from .conftest import VECTORS, Events

MANIFEST: Dict[str, Any] = json.loads((VECTORS / "manifest.json").read_text())
ALL: List[Dict[str, Any]] = MANIFEST["vectors"]


def _open_with(tmp_path: Path, vector: Dict[str, Any], at_ms: int) -> Cache:
    directory = tmp_path / "cache"
    target = directory / vector["path"]
    target.parent.mkdir(parents=True)
    shutil.copyfile(VECTORS / vector["file"], target)
    settings: Dict[str, Any] = {"clock": ManualClock(at_ms), "sweep_interval": None}
    if vector.get("secret_key_hex"):
        settings["secret_key"] = bytes.fromhex(vector["secret_key_hex"])
    return Cache(directory, **settings)


def test_manifest_covers_every_outcome() -> None:
    outcomes = {v["expect"].split(":")[0] for v in ALL}
    assert {"ok", "corrupt", "newer-version"} <= outcomes


@pytest.mark.parametrize("vector", [v for v in ALL if v["expect"] == "ok"], ids=lambda v: v["file"])
def test_good_vectors_are_served(tmp_path: Path, vector: Dict[str, Any]) -> None:
    cache = _open_with(tmp_path, vector, vector["created_ms"])
    key = bytes.fromhex(vector["key_hex"])
    value = cache.get(key)
    # value_type 0 is raw bytes; a code Python does not define comes back raw too.
    assert value == bytes.fromhex(vector["value_hex"])
    if vector["key_utf8"] is not None:
        assert cache.get(vector["key_utf8"]) == value  # str keys are their UTF-8 bytes
    assert cache.stats()["quarantined"] == 0
    cache.close()


def test_tagged_expiring_vector_lives_until_its_expiry(tmp_path: Path) -> None:
    [vector] = [v for v in ALL if v["file"] == "tagged-expiring.entry"]
    clock = ManualClock(vector["expires_ms"] - 1)
    directory = tmp_path / "cache"
    (directory / vector["path"]).parent.mkdir(parents=True)
    shutil.copyfile(VECTORS / vector["file"], directory / vector["path"])
    cache = Cache(directory, clock=clock, sweep_interval=None)
    key = vector["key_utf8"]
    assert cache.get(key) == bytes.fromhex(vector["value_hex"])
    clock.advance(0.001)
    assert cache.get(key) is None
    cache.close()


def test_tagged_vector_is_evicted_by_its_tag(tmp_path: Path) -> None:
    [vector] = [v for v in ALL if v["file"] == "tagged-expiring.entry"]
    cache = _open_with(tmp_path, vector, vector["created_ms"])
    assert cache.evict(vector["tag"]) == 1
    assert cache.get(vector["key_utf8"]) is None
    cache.close()


@pytest.mark.parametrize("vector", [v for v in ALL if v["expect"].startswith("corrupt")], ids=lambda v: v["file"])
def test_corrupt_vectors_are_quarantined_and_missed(tmp_path: Path, vector: Dict[str, Any]) -> None:
    reason = vector["expect"].split(": ")[1]
    directory = tmp_path / "cache"
    cache = Cache(directory, clock=ManualClock(vector["created_ms"]), sweep_interval=None)
    events = Events(cache, "quarantined")
    cache.wait_ready()  # the opening scan is done: the read below meets the file
    (directory / vector["path"]).parent.mkdir(parents=True)
    shutil.copyfile(VECTORS / vector["file"], directory / vector["path"])
    assert cache.get(bytes.fromhex(vector["key_hex"])) is None
    quarantined = list((tmp_path / "cache" / "quarantine").iterdir())
    assert len(quarantined) == 1 and f"-{reason}-" in quarantined[0].name
    assert not (tmp_path / "cache" / vector["path"]).exists()
    [event] = events.of("quarantined")
    assert event["reason"] == reason
    cache.close()


@pytest.mark.parametrize("vector", [v for v in ALL if v["expect"] == "newer-version"], ids=lambda v: v["file"])
def test_newer_version_vectors_are_left_in_place(tmp_path: Path, vector: Dict[str, Any]) -> None:
    cache = _open_with(tmp_path, vector, vector["created_ms"])
    assert cache.get(bytes.fromhex(vector["key_hex"])) is None
    assert (tmp_path / "cache" / vector["path"]).exists()
    assert cache.stats()["quarantined"] == 0
    cache.close()


def test_python_writes_what_the_vectors_hold(tmp_path: Path) -> None:
    """A bytes value written from Python reads back byte for byte as the
    vector's value, under the vector's key hash path."""
    [vector] = [v for v in ALL if v["file"] == "small-ascii.entry"]
    cache = Cache(tmp_path, clock=ManualClock(vector["created_ms"]))
    cache[vector["key_utf8"]] = bytes.fromhex(vector["value_hex"])
    written = (tmp_path / vector["path"]).read_bytes()
    assert written == (VECTORS / vector["file"]).read_bytes()
    cache.close()
