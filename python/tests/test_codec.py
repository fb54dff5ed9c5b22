"""Keys and values per the cross-language contract (docs/FORMAT.md §3.3)."""

from __future__ import annotations

import math
import struct
import uuid
from pathlib import Path

import pytest

import sturdycache
from sturdycache import Cache, _codec


def test_str_and_bytes_keys_are_the_same_entry(cache: Cache) -> None:
    cache["k"] = "text"
    assert cache[b"k"] == "text"
    cache[b"\xc3\xa9"] = 1
    assert cache["é"] == 1
    assert _codec.encode_key("clé") == "clé".encode()


def test_equal_keys_always_hit(cache: Cache) -> None:
    cache[1] = "one"
    assert cache[1.0] == "one" and cache[True] == "one"
    # diskcache #272: equal tuples whose strings are distinct objects.
    a = ("user", "".join(["na", "me"]), 3)
    b = ("user", "name", 3.0)
    assert a == b and a[1] is not b[1]
    cache[a] = "tuple"
    assert cache[b] == "tuple"
    cache[frozenset({"x", "y", 1})] = "set"
    assert cache[frozenset({1, "y", "x"})] == "set"


def test_distinct_keys_do_not_collide(cache: Cache) -> None:
    keys = ["1", b"1", 1, 1.5, "1.5", None, "None", (), ("1",), (1,), ((1,),), frozenset(), uuid.UUID(int=1), (None,)]
    encoded = {_codec.encode_key(k) for k in keys}
    # "1" and b"1" are one key by contract; everything else is distinct.
    assert len(encoded) == len(keys) - 1


def test_typed_keys_round_trip_through_iterkeys(cache: Cache) -> None:
    keys = [42, -7, 2**80, 1.5, -0.25, 1e-300, float("inf"), None, ("a", 1, (b"b", None)), frozenset({1, 2}), uuid.uuid4()]
    for k in keys:
        cache[k] = 0
    assert set(cache) == set(keys)


def test_unsupported_key_types_raise_type_error(cache: Cache) -> None:
    for key in ([1], {"a": 1}, object(), {1}, ([],)):
        with pytest.raises(TypeError, match="unsupported key type"):
            cache[key] = 1  # type: ignore[index]
        with pytest.raises(TypeError):
            cache.get(key)


@pytest.mark.parametrize(
    ("value", "value_type", "raw"),
    [
        (b"\x00\xff", sturdycache.BYTES, b"\x00\xff"),
        ("héllo", sturdycache.STRING, "héllo".encode()),
        (-1234567890123, sturdycache.INT, b"-1234567890123"),
        (2**100, sturdycache.INT, str(2**100).encode()),
        (1.5, sturdycache.FLOAT, struct.pack("<d", 1.5)),
        (True, sturdycache.BOOL, b"\x01"),
        (False, sturdycache.BOOL, b"\x00"),
        (None, sturdycache.NULL, b""),
        (bytearray(b"ab"), sturdycache.BYTES, b"ab"),
        (memoryview(b"cd"), sturdycache.BYTES, b"cd"),
    ],
)
def test_values_use_the_contract_encoding(value: object, value_type: int, raw: bytes) -> None:
    assert _codec.encode_value(value) == (value_type, raw)


def test_values_round_trip_with_their_types(cache: Cache) -> None:
    values = [b"raw", "text", "", 0, -5, 2**200, 3.25, float("inf"), True, False, None, {"a": [1, 2]}, [1, "x"], (1, 2), {1, 2}]
    for i, v in enumerate(values):
        cache[i] = v
    for i, v in enumerate(values):
        got = cache[i]
        assert got == v and type(got) is type(v if not isinstance(v, (bytearray, memoryview)) else b"")
    cache["nan"] = float("nan")
    assert math.isnan(cache["nan"])


def test_other_objects_are_pickled_protocol_5() -> None:
    value_type, raw = _codec.encode_value({"a": 1})
    assert value_type == sturdycache.PICKLE and raw[:2] == b"\x80\x05"


def test_json_serializer_is_readable_everywhere_and_never_unpickles(tmp_path: Path) -> None:
    c = Cache(tmp_path, serializer="json")
    c["doc"] = {"a": [1, 2.5, "x", None, True]}
    assert c["doc"] == {"a": [1, 2.5, "x", None, True]}
    assert _codec.encode_value({"a": 1}, True) == (sturdycache.JSON, b'{"a":1}')
    with pytest.raises(TypeError, match="JSON"):
        c["bad"] = object()
    pickled = Cache(tmp_path)  # same directory, pickle serializer
    pickled["obj"] = {1, 2}
    assert pickled["obj"] == {1, 2}
    assert c["obj"] == _codec.encode_value({1, 2})[1]  # raw bytes: the JSON cache never unpickles
    c.close()
    pickled.close()


def test_unknown_value_types_come_back_raw() -> None:
    assert _codec.decode_value(165, b"\x01\x02") == b"\x01\x02"
    assert _codec.decode_value(sturdycache.FLOAT, b"short") == b"short"  # malformed: raw
    assert _codec.decode_value(sturdycache.INT, b"12x") == b"12x"
    assert _codec.decode_value(sturdycache.INT, b"9" * 5000) == int("9" * 1000) * 10**4000 + int("9" * 4000)


def test_huge_ints_and_surrogates_still_store(cache: Cache) -> None:
    huge = 10**5000 + 1  # beyond Python's int-to-str limit: pickled
    cache["huge"] = huge
    assert cache["huge"] == huge
    cache["sur"] = "a\udc80b"  # not valid UTF-8: pickled, exact
    assert cache["sur"] == "a\udc80b"
    with pytest.raises(ValueError, match="UTF-8"):
        cache["a\udc80"] = 1


def test_pickled_results_decode_exactly_as_pickle_loads() -> None:
    """Memoize stores results pickled; simple pickles take a fast path that
    must agree with pickle.loads, and everything else goes to pickle.loads."""
    import pickle

    for v in [b"", b"ab", b"x" * 300, b"y" * 70_000, "hé", "z" * 300, "a\udc80", None, True, False, [1], 5, 2.5]:
        got = _codec.decode_value(sturdycache.PICKLE, pickle.dumps(v, 5))
        assert got == v and type(got) is type(v)
    assert _codec.decode_value(sturdycache.PICKLE, b"\x80\x05C\x02ab\x94.x") == b"ab"  # as pickle.loads
    with pytest.raises(pickle.UnpicklingError):
        _codec.decode_value(sturdycache.PICKLE, b"\x80\x05C\x05ab\x94.")
    assert _codec.decode_value(sturdycache.PICKLE, pickle.dumps(b"raw", 5), False) == pickle.dumps(b"raw", 5)
