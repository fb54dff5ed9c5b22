"""``sturdycache.Cache``: the diskcache-shaped API over the native core.

Where diskcache.Cache has the same concept this class uses its names and
signatures (``docs/MIGRATING_FROM_DISKCACHE.md`` lists every difference).
All cache logic is the core's. The calls on every request's path (get, set,
add, touch, pop, delete, the mapping protocol, memoize hits) are the native
base class's own methods; this class adds settings handling, asyncio,
memoize decorators, observability and the lifecycle hooks.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import io
import logging
import os
import tempfile
import threading
import weakref
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Tuple,
    TypeVar,
    Union,
    overload,
)

from . import _codec, _html, _memoize, _native, _runtime
from ._faults import Faults

log = logging.getLogger("sturdycache")

F = TypeVar("F", bound=Callable[..., Any])
Listener = Callable[[Dict[str, Any]], Any]
Expire = Union[float, int, datetime.timedelta, None]

#: Event names for :meth:`Cache.on` (``"*"`` receives all of them).
EVENTS = (
    "mode_changed",
    "breaker_state_changed",
    "quarantined",
    "replay_dropped",
    "recovered",
    "disk_health_changed",
)

_DURATION_SETTINGS = frozenset(
    {"default_ttl", "quarantine_retention", "sweep_interval", "health_interval", "io_timeout"}
)
_BREAKER_DURATIONS = frozenset({"rolling_window", "slow_call_threshold", "open_timeout", "max_open_timeout"})


def _seconds(value: Any) -> Any:
    return value.total_seconds() if isinstance(value, datetime.timedelta) else value


def _dispatch(ref: "weakref.ReferenceType[Cache]", event: Dict[str, Any]) -> None:
    """Runs on the core's event thread: hands one event to the listeners."""
    cache = ref()
    if cache is None:
        return
    listeners = cache._listeners
    for callback in [*listeners.get(event["event"], ()), *listeners.get("*", ())]:
        try:
            callback(event)
        except Exception:
            log.exception("event listener %r failed on %s", callback, event["event"])


def _expire(expire: Expire) -> Optional[float]:
    if expire is None:
        return None
    if isinstance(expire, datetime.timedelta):
        return expire.total_seconds()
    if isinstance(expire, bool) or not isinstance(expire, (int, float)):
        raise TypeError(f"expire must be a number of seconds, a timedelta or None, not {type(expire).__name__}")
    return float(expire)


class Cache(_native.NativeCache):
    """A resilient two-tier (memory + disk) cache in ``directory``.

    ``directory`` defaults to a new temporary directory. Every core setting is
    a keyword (sizes as ints or strings such as ``"512MiB"``, durations in
    seconds or as ``timedelta``): memory_limit, disk_limit, default_ttl,
    durability ("none"/"fsync"), max_key_size, max_value_size,
    compression_threshold, compression_level, quarantine_retention,
    quarantine_max_bytes, sweep_interval, hot_shards, breaker (a dict),
    breaker_failure_kinds, degraded_memory_factor, max_replay_entries,
    max_replay_bytes, drain_batch_size, health_interval, io_timeout,
    write_mode ("write_through"/"write_behind"), fail_on_disk_error, clock.
    ``size_limit`` is accepted as diskcache's name for ``disk_limit``.

    ``serializer="json"`` stores non-primitive values as JSON (readable from
    every language) and never unpickles. ``secret_key`` authenticates every
    entry with a keyed hash (BLAKE3): a tampered entry is quarantined and never
    reaches the unpickler.
    """

    def __init__(
        self,
        directory: Union[str, "os.PathLike[str]", None] = None,
        *,
        serializer: str = "pickle",
        secret_key: Union[bytes, str, None] = None,
        timeout: Optional[float] = None,
        **settings: Any,
    ) -> None:
        if serializer not in ("pickle", "json"):
            raise ValueError(f"serializer must be 'pickle' or 'json', got {serializer!r}")
        if directory is None:
            directory = tempfile.mkdtemp(prefix="sturdycache-")
        self._directory = os.fspath(directory)
        if "size_limit" in settings:
            if "disk_limit" in settings:
                raise TypeError("give disk_limit or size_limit (diskcache's name for it), not both")
            settings["disk_limit"] = settings.pop("size_limit")
        for name in _DURATION_SETTINGS & settings.keys():
            settings[name] = _seconds(settings[name])
        if isinstance(settings.get("breaker"), dict):
            settings["breaker"] = {
                k: (_seconds(v) if k in _BREAKER_DURATIONS else v) for k, v in settings["breaker"].items()
            }
        if secret_key is not None:
            settings["secret_key"] = secret_key
        self._settings = settings
        self._serializer = serializer
        self._lock = threading.Lock()
        self._listeners: Dict[str, List[Listener]] = {}
        self._subscribed = False
        self._open(self._directory, settings, serializer == "json")
        _runtime.open_caches.add(self)

    # ------------------------------------------------------------ lifecycle

    @property
    def directory(self) -> str:
        """The cache directory."""
        return self._directory

    @property
    def serializer(self) -> str:
        """``"pickle"`` or ``"json"``."""
        return self._serializer

    def close(self) -> None:
        """Writes what is queued (write-behind, replay) if the disk takes it,
        stops the background threads and releases the directory. Idempotent;
        using the cache afterwards reopens it (as with diskcache)."""
        _runtime.open_caches.discard(self)
        self._close()

    def _forget_after_fork(self) -> None:
        self._abandon()
        self._lock = threading.Lock()

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (self._directory, self._serializer, dict(self._settings)))

    def __repr__(self) -> str:
        return f"Cache({self._directory!r})"

    def _repr_html_(self) -> str:
        return _html.render(self)

    # ------------------------------------------------------------ reads and writes beyond the native ones

    def read(self, key: Any) -> io.BytesIO:
        """A file object over ``key``'s bytes value; KeyError on a miss."""
        value = self[key]
        if not isinstance(value, bytes):
            raise TypeError(f"read() needs a bytes value, found {type(value).__name__}")
        return io.BytesIO(value)

    def expire(self, now: Optional[float] = None, retry: bool = False) -> int:
        """Removes expired entries now; returns how many."""
        if now is not None:
            raise NotImplementedError("expire(now=...) is not supported (see docs/MIGRATING_FROM_DISKCACHE.md)")
        return int(self._sweep()["expired"])

    def cull(self, retry: bool = False) -> int:
        """Enforces the disk budget now; returns how many entries were evicted."""
        return int(self._sweep()["evicted"])

    def sweep(self) -> Dict[str, int]:
        """Runs the background maintenance now (expiry, disk budget,
        quarantine clean-up, abandoned temp files); returns what it did."""
        return dict(self._sweep())

    def check(self, fix: bool = False, retry: bool = False) -> Dict[str, int]:
        """Reads and verifies every entry (checksum, decoding, and the MAC when
        a secret_key is set), quarantining bad ones. Returns the counts:
        scanned, valid, expired, quarantined, errors."""
        return dict(self._check())

    def flush(self) -> bool:
        """Writes everything queued (write-behind, writes kept during an
        outage) now; True when nothing is left queued."""
        return bool(self._flush())

    # ------------------------------------------------------------ iteration

    def iterkeys(self) -> Iterator[Any]:
        """The keys of live entries, in no particular order (text keys come
        back as str, typed keys as what they were)."""
        decode = _codec.decode_key
        for raw in self._keys():
            yield decode(raw)

    def __iter__(self) -> Iterator[Any]:
        return self.iterkeys()

    # ------------------------------------------------------------ memoize

    @overload
    def memoize(self, name: F) -> F: ...

    @overload
    def memoize(
        self,
        name: Optional[str] = None,
        typed: bool = False,
        expire: Expire = None,
        tag: Optional[str] = None,
        ignore: Tuple[Union[int, str], ...] = (),
    ) -> Callable[[F], F]: ...

    def memoize(
        self,
        name: Any = None,
        typed: bool = False,
        expire: Expire = None,
        tag: Optional[str] = None,
        ignore: Tuple[Union[int, str], ...] = (),
    ) -> Any:
        """Decorates a function (sync or ``async def``) so its results are
        cached by argument. Concurrent callers with equal arguments compute
        once. The wrapper has ``__wrapped__`` and ``cache_key(*args, **kwargs)``.
        ``ignore`` names positional indexes or keyword names left out of the key."""
        if tag is not None and type(tag) is not str:
            raise TypeError(f"tag must be a str or None, not {type(tag).__name__}")
        if callable(name) and not typed and expire is None and tag is None and not ignore:
            return _memoize.memoize(self, None, False, None, None, ())(name)
        return _memoize.memoize(self, name, typed, _expire(expire), tag, tuple(ignore))

    # ------------------------------------------------------------ asyncio

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_runtime.io_executor(), functools.partial(call, *args))

    async def aget(self, key: Any, default: Any = None) -> Any:
        """:meth:`get` without blocking the event loop."""
        return await self._run(self.get, key, default)

    async def aset(self, key: Any, value: Any, expire: Expire = None, tag: Optional[str] = None) -> bool:
        """:meth:`set` without blocking the event loop."""
        return bool(await self._run(self.set, key, value, expire, False, tag))

    async def aadd(self, key: Any, value: Any, expire: Expire = None, tag: Optional[str] = None) -> bool:
        """:meth:`add` without blocking the event loop."""
        return bool(await self._run(self.add, key, value, expire, False, tag))

    async def adelete(self, key: Any) -> bool:
        """:meth:`delete` without blocking the event loop."""
        return bool(await self._run(self.delete, key))

    async def atouch(self, key: Any, expire: Expire = None) -> bool:
        """:meth:`touch` without blocking the event loop."""
        return bool(await self._run(self.touch, key, expire))

    async def apop(self, key: Any, default: Any = None) -> Any:
        """:meth:`pop` without blocking the event loop."""
        return await self._run(self.pop, key, default)

    # ------------------------------------------------------------ observability

    def stats(self) -> Dict[str, Any]:
        """Every counter and size: hits, misses, hit_rate, per-tier figures,
        disk errors, quarantine, resilience (mode, breakers), replay queue and
        latencies. (diskcache returns a (hits, misses) tuple.)"""
        return dict(self._metrics())

    def volume(self) -> int:
        """Bytes of entry files on disk (shared count across processes)."""
        return int(self._metrics()["disk_bytes"])

    @property
    def mode(self) -> str:
        """``"normal"``, ``"read_only"`` or ``"memory_only"``."""
        return str(self._mode())

    def health(self) -> Dict[str, Any]:
        """The resilience state at a glance: mode, disk health, breaker
        states, replay queue, quarantine, the last disk error."""
        m = self._metrics()
        r = m["resilience"]
        return {
            "mode": r["mode"],
            "disk_health": r["disk_health"],
            "read_breaker": r["read_breaker"]["state"],
            "write_breaker": r["write_breaker"]["state"],
            "replay_depth": m["replay"]["depth"],
            "replay_dropped": m["replay"]["dropped"],
            "quarantined": m["quarantined"],
            "recoveries": r["recoveries"],
            "incident": r["incident"],
            "last_error": r["last_error"],
            "coherent_across_processes": bool(self._coherent()),
        }

    def prometheus(self) -> str:
        """Every metric in the Prometheus text exposition format."""
        return str(self._prometheus())

    def on(self, event: str, callback: Optional[Listener] = None) -> Any:
        """Calls ``callback(event_dict)`` for each ``event`` (one of
        :data:`EVENTS`, or ``"*"``) on a library thread. Usable as a
        decorator: ``@cache.on("recovered")``. Returns the callback."""
        if event != "*" and event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; events are {', '.join(EVENTS)} or '*'")
        if callback is None:
            return lambda cb: self.on(event, cb)
        if not callable(callback):
            raise TypeError("callback must be callable")
        with self._lock:
            self._listeners.setdefault(event, []).append(callback)
            if not self._subscribed:
                self._subscribe(functools.partial(_dispatch, weakref.ref(self)))
                self._subscribed = True
        return callback

    def off(self, event: str, callback: Listener) -> bool:
        """Removes a listener added with :meth:`on`; False if it was not there."""
        with self._lock:
            listeners = self._listeners.get(event, [])
            if callback not in listeners:
                return False
            listeners.remove(callback)
            return True

    def flush_events(self) -> None:
        """Waits until every event emitted so far has reached the listeners."""
        self._flush_events()

    @property
    def faults(self) -> Faults:
        """The chaos API: ``cache.faults.inject("write", "enospc")``, ``.clear()``."""
        return Faults(self)

    def run_recovery(self) -> Dict[str, Any]:
        """One recovery round now (probe a failing disk when its breaker
        allows, drain the replay queue); the background thread does this too."""
        return dict(self._run_recovery())

    def override_breaker(self, path: str, state: str) -> None:
        """Operator override: ``path`` "read"/"write", ``state``
        "forced_open" (maintenance), "disabled" or "closed" (reset)."""
        self._override_breaker(path, state)

    def wait_ready(self) -> None:
        """Waits until the index of existing entries is built (open returns at once)."""
        self._wait_ready()


def _rebuild(directory: str, serializer: str, settings: Dict[str, Any]) -> Cache:
    """Unpickles a cache (e.g. passed to a multiprocessing worker): the same
    directory and settings, opened in this process."""
    return Cache(directory, serializer=serializer, **settings)
