"""memoize: sync and async, single-flight, keys, options."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, List

import numpy
import pytest

from sturdycache import Cache, ManualClock

from .conftest import wait_until


def test_memoize_computes_once_and_exposes_the_wrapped_function(cache: Cache) -> None:
    calls: List[int] = []

    @cache.memoize()
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9 and square(4) == 16
    assert calls == [3, 4]
    assert square.__wrapped__(5) == 25
    assert square.__name__ == "square"
    assert cache[square.cache_key(3)] == 9
    assert square.__cache_key__(3) == square.cache_key(3)


def test_memoize_without_parentheses(cache: Cache) -> None:
    @cache.memoize
    def double(x: int) -> int:
        return 2 * x

    assert double(2) == 4
    assert double.cache_key(2).startswith(b"\xffM")


def test_results_keep_their_types(cache: Cache) -> None:
    @cache.memoize()
    def make(kind: str) -> Any:
        return {"none": None, "bytes": b"b", "dict": {"a": (1, 2)}, "float": 1.0}[kind]

    for kind in ("none", "bytes", "dict", "float"):
        first, second = make(kind), make(kind)
        assert first == second and type(first) is type(second)


def test_argument_keys(cache: Cache) -> None:
    @cache.memoize()
    def f(*args: Any, **kwargs: Any) -> int:
        return 0

    k = f.cache_key
    assert k(1, b=2, c=3) == k(1, c=3, b=2)  # keyword order does not matter
    assert k(1) == k(1.0) == k(True)  # equal arguments, equal keys
    assert k([1, 2]) != k((1, 2))
    assert k({"a": 1, "b": 2}) == k({"b": 2, "a": 1})
    assert k({1, 2, 3}) == k({3, 2, 1})
    assert k("x" * 1000) != k("x" * 999)
    prefix = k().rsplit(b"\x00", 1)[0]
    assert len(k("x" * 1000)) == len(prefix) + 1 + 17  # long encodings: "#" + 16 bytes of hash


def test_numpy_arrays_and_bytes_are_keyed_by_content(cache: Cache) -> None:
    calls = []

    @cache.memoize()
    def total(a: Any) -> float:
        calls.append(1)
        return float(numpy.sum(a))

    a = numpy.arange(10_000, dtype=numpy.float64)
    assert total(a) == total(a.copy()) == total(numpy.arange(10_000, dtype=numpy.float64))
    assert len(calls) == 1
    assert total.cache_key(a) != total.cache_key(a.astype(numpy.float32))
    assert total.cache_key(a[::2]) == total.cache_key(numpy.ascontiguousarray(a[::2]))
    assert total.cache_key(b"x" * 100_000) != total.cache_key(b"x" * 99_999)


def test_typed_and_ignore(cache: Cache) -> None:
    @cache.memoize(typed=True)
    def t(x: Any) -> str:
        return type(x).__name__

    assert t(1) == "int" and t(1.0) == "float"

    @cache.memoize(ignore=(1, "verbose"))
    def g(x: int, log: Any = None, verbose: bool = False) -> int:
        return x

    assert g.cache_key(1, "a", verbose=True) == g.cache_key(1, "b")


def test_named_memoize_shares_entries(cache: Cache) -> None:
    @cache.memoize(name="shared")
    def a(x: int) -> str:
        return "a"

    @cache.memoize(name="shared")
    def b(x: int) -> str:
        return "b"

    assert a(1) == "a" and b(1) == "a"


def test_expire_and_tag(tmp_path: Path) -> None:
    clock = ManualClock()
    c = Cache(tmp_path, clock=clock)
    calls = []

    @c.memoize(expire=10, tag="reports")
    def report(x: int) -> int:
        calls.append(x)
        return x

    report(1)
    report(1)
    clock.advance(11)
    report(1)
    assert calls == [1, 1]
    assert c.evict("reports") == 1
    report(1)
    assert calls == [1, 1, 1]
    c.close()


def test_exceptions_are_not_cached(cache: Cache) -> None:
    calls = []

    @cache.memoize()
    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return x

    with pytest.raises(RuntimeError, match="first call fails"):
        flaky(1)
    assert flaky(1) == 1 and flaky(1) == 1
    assert calls == [1, 1]


def test_methods_are_memoized(cache: Cache) -> None:
    global Model

    class Model:
        """Module-level (picklable), so instances key by content."""

        def __init__(self, scale: int) -> None:
            self.scale = scale

        @cache.memoize()
        def predict(self, x: int) -> int:
            return self.scale * x

    Model.__qualname__ = "Model"
    assert Model(2).predict(3) == 6 and Model(3).predict(3) == 9
    assert Model(2).predict(3) == 6


def test_unpicklable_arguments_say_how_to_key_them(cache: Cache) -> None:
    @cache.memoize()
    def f(x: Any) -> int:
        return 1

    with pytest.raises(TypeError, match="ignore="):
        f(lambda: None)


def test_recursive_memoized_function(cache: Cache) -> None:
    @cache.memoize()
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(60) == 1548008755920


def test_single_flight_across_threads(cache: Cache) -> None:
    calls = []
    release = threading.Event()
    threads_n = 8

    @cache.memoize()
    def slow(x: int) -> int:
        calls.append(x)
        assert release.wait(30)
        return x

    results: List[int] = []
    threads = [threading.Thread(target=lambda: results.append(slow(7))) for _ in range(threads_n)]
    for t in threads:
        t.start()
    # Every caller has looked the key up and missed: they are in the flight.
    wait_until(lambda: cache.stats()["misses"] >= threads_n, what="all callers to miss")
    release.set()
    for t in threads:
        t.join(30)
    assert results == [7] * threads_n
    assert calls == [7]


def test_async_memoize_single_flight_across_tasks(cache: Cache) -> None:
    calls = []

    @cache.memoize()
    async def fetch(q: str) -> str:
        calls.append(q)
        await asyncio.sleep(0)
        return q.upper()

    async def main() -> List[str]:
        return await asyncio.gather(*(fetch("question") for _ in range(20)), fetch("other"))

    results = asyncio.run(main())
    assert results == ["QUESTION"] * 20 + ["OTHER"]
    assert sorted(calls) == ["other", "question"]
    assert asyncio.run(fetch("question")) == "QUESTION" and len(calls) == 2
    assert fetch.cache_key("question").startswith(b"\xffM")


def test_async_memoize_errors_propagate_and_are_not_cached(cache: Cache) -> None:
    calls = []

    @cache.memoize()
    async def broken(x: int) -> int:
        calls.append(x)
        raise ValueError("no")

    async def main() -> None:
        for _ in range(2):
            with pytest.raises(ValueError, match="no"):
                await broken(1)

    asyncio.run(main())
    assert calls == [1, 1]


def test_async_memoized_function_can_use_the_cache_inside(cache: Cache) -> None:
    @cache.memoize()
    async def outer(x: int) -> int:
        await cache.aset(("seen", x), True)
        return await inner(x) + 1

    @cache.memoize()
    async def inner(x: int) -> int:
        return x * 10

    async def main() -> List[int]:
        return await asyncio.gather(*(outer(i) for i in range(40)))

    assert asyncio.run(main()) == [i * 10 + 1 for i in range(40)]
    assert cache[("seen", 39)] is True
