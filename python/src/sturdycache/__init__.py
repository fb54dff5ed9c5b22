"""sturdycache: a resilient two-tier (memory + disk) cache.

    >>> from sturdycache import Cache
    >>> cache = Cache("/tmp/my-cache")
    >>> cache["greeting"] = "hello"
    >>> cache["greeting"]
    'hello'

A drop-in for most uses of ``diskcache.Cache`` that keeps serving when the
disk fails, with asyncio methods, a single-flight ``memoize`` and
observability (``stats()``, ``health()``, ``prometheus()``, ``on(event, ...)``).
"""

from __future__ import annotations

import logging

from . import _runtime  # noqa: F401  (fork and exit hooks)
from ._codec import BOOL, BYTES, FLOAT, INT, JSON, NULL, PICKLE, STRING
from ._faults import Fault, Faults
from ._native import VERSION as __version__
from ._native import CacheError, DiskError, ManualClock, NewerFormatError, parse_size
from .cache import EVENTS, Cache

logging.getLogger("sturdycache").addHandler(logging.NullHandler())

__all__ = [
    "BOOL",
    "BYTES",
    "EVENTS",
    "FLOAT",
    "INT",
    "JSON",
    "NULL",
    "PICKLE",
    "STRING",
    "Cache",
    "CacheError",
    "DiskError",
    "Fault",
    "Faults",
    "ManualClock",
    "NewerFormatError",
    "__version__",
    "parse_size",
]
