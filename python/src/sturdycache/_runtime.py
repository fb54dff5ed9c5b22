"""Process-wide plumbing: worker threads for the asyncio methods, fork and
interpreter-exit handling.

- Fork: the core's locks must not be caught mid-wait (see
  bindings/python/src/forkgate.rs). Before a fork, native calls in other
  threads are let finish and new ones held, then every open cache is closed
  (queued writes flushed if the disk takes them) and its threads let exit.
  Parent and child reopen each cache on its next use, with an empty memory
  tier. Executors are recreated in the child.
- Exit: open caches are flushed and closed, then the gate that lets the
  core's threads call into Python (log records, event listeners) is closed,
  so no background thread touches a finalizing interpreter.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Optional

from . import _native

if TYPE_CHECKING:
    from .cache import Cache

#: Every cache not yet closed in this process.
open_caches: "weakref.WeakSet[Cache]" = weakref.WeakSet()

_lock = threading.Lock()
_io: Optional[ThreadPoolExecutor] = None
_flight: Optional[ThreadPoolExecutor] = None

#: Threads for the asyncio methods (each call is short: one cache operation).
IO_WORKERS = min(32, (os.cpu_count() or 1) + 4)
#: Threads for async memoize: each waits while its coroutine runs on the loop,
#: so they are kept apart from the I/O threads (which the coroutine may need).
FLIGHT_WORKERS = 128


def io_executor() -> ThreadPoolExecutor:
    global _io
    ex = _io
    if ex is None:
        with _lock:
            if _io is None:
                _io = ThreadPoolExecutor(IO_WORKERS, thread_name_prefix="sturdycache-io")
            ex = _io
    return ex


def flight_executor() -> ThreadPoolExecutor:
    global _flight
    ex = _flight
    if ex is None:
        with _lock:
            if _flight is None:
                _flight = ThreadPoolExecutor(FLIGHT_WORKERS, thread_name_prefix="sturdycache-memoize")
            ex = _flight
    return ex


def _before_fork() -> None:
    _native._before_fork()
    for cache in list(open_caches):
        try:
            cache._close()
        except Exception:  # a fork must not fail because one cache could not flush
            pass
    _native._wait_for_threads()


def _after_fork_in_child() -> None:
    global _io, _flight, _lock
    _native._after_fork_in_child()
    _lock = threading.Lock()
    _io = None  # the parent's worker threads do not exist here
    _flight = None
    for cache in list(open_caches):
        cache._forget_after_fork()


def _at_exit() -> None:
    for cache in list(open_caches):
        try:
            cache.close()
        except Exception:  # exit must go on whatever one cache says
            pass
    _native._close_gate(1.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_native._after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
atexit.register(_at_exit)
