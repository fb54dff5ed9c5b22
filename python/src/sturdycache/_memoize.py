"""``Cache.memoize`` for sync and ``async def`` functions.

A call's key is the function's name plus a stable encoding of its arguments
(equal arguments give equal keys in every process and run; numpy arrays and
bytes are keyed by content; encodings over 128 bytes are replaced by a 16-byte
BLAKE3 hash). Sync functions are wrapped by the native ``Memo``: key, lookup
and single-flight compute in one call, through the core's
``get_or_insert_with`` (concurrent callers with equal arguments, in any
threads, run the function once). Async calls of one event loop share one task
per key, which runs the same core call in a worker thread while the coroutine
runs on the loop. Results are stored pickled (value type 7), so any return
value round-trips exactly.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import pickle
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, TypeVar, Union, cast

from . import _codec, _native, _runtime

if TYPE_CHECKING:
    from .cache import Cache

F = TypeVar("F", bound=Callable[..., Any])

#: Every memoize key starts with this (0xFF: never the start of a text key).
MEMO_PREFIX = b"\xffM"

# Async single-flight: one task per (loop, key).
_inflight: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dict[bytes, asyncio.Future[Any]]]" = (
    weakref.WeakKeyDictionary()
)


def full_name(func: Callable[..., Any]) -> str:
    """``module.qualname``, the default memoize name (as diskcache's)."""
    module = getattr(func, "__module__", None) or ""
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    return f"{module}.{qualname}" if module else str(qualname)


def _retrieve(task: "asyncio.Future[Any]") -> None:
    # Mark a failure as seen even if every awaiting caller was cancelled.
    if not task.cancelled():
        task.exception()


def memoize(
    cache: "Cache",
    name: Optional[str],
    typed: bool,
    expire: Optional[float],
    tag: Optional[str],
    ignore: Tuple[Union[int, str], ...],
) -> Callable[[F], F]:
    """The decorator behind :meth:`Cache.memoize`."""
    if callable(name):
        raise TypeError("name cannot be callable: use @cache.memoize or @cache.memoize()")
    positions = [i for i in ignore if isinstance(i, int)]
    names = [i for i in ignore if isinstance(i, str)]

    def decorator(func: F) -> F:
        prefix = MEMO_PREFIX + (name if name is not None else full_name(func)).encode() + b"\x00"

        if not inspect.iscoroutinefunction(func):
            memo: Any = _native.Memo(cache, func, prefix, typed, positions, names, expire, tag)
            functools.update_wrapper(memo, func)
            memo.__cache_key__ = memo.cache_key  # diskcache's name
            memo.cache = cache
            return cast(F, memo)

        def cache_key(*args: Any, **kwargs: Any) -> bytes:
            return _native.memo_key(prefix, args, kwargs, typed, positions, names)

        async def compute(key: bytes, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
            loop = asyncio.get_running_loop()

            def load() -> bytes:
                # In a worker thread: run the coroutine on its loop and wait.
                running = asyncio.run_coroutine_threadsafe(func(*args, **kwargs), loop)
                return pickle.dumps(running.result(), _codec.PICKLE_PROTOCOL)

            call = functools.partial(cache._load, key, load, expire, tag)
            return await loop.run_in_executor(_runtime.flight_executor(), call)

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            key = cache_key(*args, **kwargs)
            loop = asyncio.get_running_loop()
            tasks = _inflight.setdefault(loop, {})
            task = tasks.get(key)
            if task is None:
                task = loop.create_task(compute(key, args, kwargs))
                tasks[key] = task

                def done(t: "asyncio.Future[Any]", key: bytes = key) -> None:
                    if tasks.get(key) is t:
                        del tasks[key]
                    _retrieve(t)

                task.add_done_callback(done)
            return await asyncio.shield(task)

        wrapper: Any = async_wrapper
        wrapper.cache_key = cache_key
        wrapper.__cache_key__ = cache_key
        wrapper.cache = cache
        return cast(F, wrapper)

    return decorator
