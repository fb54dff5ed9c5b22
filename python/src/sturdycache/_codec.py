"""The Python halves of the codec (the fast paths are in the native module).

Keys: ``str`` is its UTF-8 bytes and ``bytes`` is itself, so ``"k"`` names the
same entry in Python, Node, C and Rust. Other hashable keys (int, float, bool,
None, uuid.UUID, tuples and frozensets of those) get a typed encoding that
starts with ``0xFF``, a byte UTF-8 text never contains. Equal keys encode
equally: ``1``, ``1.0`` and ``True`` are one key, as they are one dict key.

Values: the entry's ``value_type`` byte (docs/FORMAT.md §3.3) says how to read
the bytes: 0 raw bytes, 1 UTF-8 text, 2 JSON text, 3 decimal integer, 4
IEEE-754 binary64 little-endian, 5 one byte 0/1, 6 empty (None), 7 pickle
protocol 5. Codes a reader does not know come back as raw bytes.

This module holds what the native codec hands back to Python: JSON and
pickle (both ways), integers too long for 64 bits, memoize arguments of
other types (numpy arrays by content, anything else by pickle), and the key
decoder used by ``iterkeys()``.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import uuid
from typing import Any, Tuple

from . import _native

BYTES = 0
STRING = 1
JSON = 2
INT = 3
FLOAT = 4
BOOL = 5
NULL = 6
PICKLE = 7

PICKLE_PROTOCOL = 5
TYPED_KEY_PREFIX = b"\xff"

encode_key = _native.encode_key
encode_value = _native.encode_value
decode_value = _native.decode_value


def encode_other(value: Any, use_json: bool) -> Tuple[int, bytes]:
    """A value with no native type: JSON (``serializer="json"``) or pickle."""
    if type(value) is memoryview:
        return BYTES, bytes(value)
    if use_json:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"value of type {type(value).__name__!r} cannot be stored as JSON: {e}") from None
        return JSON, text.encode("utf-8", "surrogatepass")
    return PICKLE, pickle.dumps(value, PICKLE_PROTOCOL)


def _big_int(text: bytes) -> int:
    """Decimal text of any length (``int()`` refuses more than 4300 digits)."""
    negative = text[:1] == b"-"
    digits = text[1:] if negative else text
    if not digits.isdigit():
        raise ValueError("not a decimal integer")

    def parse(d: bytes) -> int:
        if len(d) <= 1000:
            return int(d.decode())
        half = len(d) // 2
        scale: int = 10 ** (len(d) - half)
        return parse(d[:half]) * scale + parse(d[half:])

    n: int = parse(digits)
    return -n if negative else n


def decode_other(value_type: int, raw: bytes, unpickle: bool) -> Any:
    """JSON, pickle, integers beyond 64 bits; unknown codes (and pickles when
    ``unpickle`` is false) come back as the raw bytes."""
    if value_type == JSON:
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if value_type == PICKLE and unpickle:
        return pickle.loads(raw)
    if value_type == INT:
        try:
            return _big_int(raw)
        except ValueError:
            return raw
    return raw


def memo_arg(obj: Any) -> bytes:
    """One memoize argument of a type the native codec does not know."""
    t = type(obj)
    if t.__name__ == "ndarray" and t.__module__ == "numpy" and not obj.dtype.hasobject:
        if not obj.flags.c_contiguous:
            import numpy

            obj = numpy.ascontiguousarray(obj)
        meta = ("%s%r" % (obj.dtype.str, obj.shape)).encode()
        digest = hashlib.blake2b(obj.data, digest_size=16).digest()
        return b"a%d:%s%s" % (len(meta), meta, digest)
    if t is uuid.UUID:
        return b"u" + bytes(obj.bytes)
    if t is str:  # lone surrogates
        e = obj.encode("utf-8", "surrogatepass")
        return b"S%d:%s" % (len(e), e)
    try:
        e = pickle.dumps(obj, PICKLE_PROTOCOL)
    except Exception as error:
        raise TypeError(
            f"memoize cannot key an argument of type {t.__qualname__!r}: it is not picklable ({error}); "
            "leave it out of the key with ignore=(position or name,)"
        ) from None
    return b"p%d:%s" % (len(e), e)


def decode_key(raw: bytes) -> Any:
    """The Python key an entry key stands for. Text keys come back as ``str``
    when they are valid UTF-8 (a key written as ``bytes`` cannot be told
    apart); typed keys as what they were; anything else as ``bytes``."""
    if raw[:1] == TYPED_KEY_PREFIX:
        try:
            value, end = _parse_typed(raw, 1)
            if end == len(raw):
                return value
        except (ValueError, IndexError):
            pass
        return raw
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _parse_typed(raw: bytes, at: int) -> Tuple[Any, int]:
    tag = raw[at : at + 1]
    at += 1
    if tag == b"n":
        return None, at
    if tag == b"u":
        if at + 16 > len(raw):
            raise ValueError("truncated key")
        return uuid.UUID(bytes=raw[at : at + 16]), at + 16
    colon = raw.index(b":", at)
    size = int(raw[at:colon])
    at = colon + 1
    if tag in (b"t", b"z"):
        items = []
        for _ in range(size):
            item, at = _parse_typed(raw, at)
            items.append(item)
        return (tuple(items) if tag == b"t" else frozenset(items)), at
    if size < 0 or at + size > len(raw):
        raise ValueError("truncated key")
    payload = raw[at : at + size]
    at += size
    if tag == b"s":
        return payload.decode(), at
    if tag == b"b":
        return payload, at
    if tag == b"i":
        return int(payload), at
    if tag == b"f":
        return float(payload), at
    raise ValueError("unknown key tag")


_native._install_codec(encode_other, decode_other, memo_arg)
