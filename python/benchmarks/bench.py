"""sturdycache vs the Python peers, side by side in one run (1 KiB values).

    bash scripts/bench-python.sh            # full run
    STURDY_BENCH_QUICK=1 bash scripts/bench-python.sh
    STURDY_BENCH_ONLY=sets,memoize bash scripts/bench-python.sh   # some of: hot, warm, sets, memoize, threads

Every measurement alternates rounds of ours and the peer's on the same keys in
the same order, and reports the median per call of each side (including the
Python loop that drives it, the same for both) and their ratio. The targets
are the ones of issue 5:

- hot get (entry in memory) at least as fast as cachetools.LRUCache.get
  (every entry with a 1 KiB value of its own; see `hot_get`);
- warm get (entry only on disk: memory tier disabled) at least as fast as diskcache.Cache.get;
- set with durability "none" at least as fast as diskcache.Cache.set;
- set in write-behind mode at least 20x faster than diskcache.Cache.set;
- a memoize hit at least 20x faster than diskcache's memoize hit and at
  least 100x faster than a joblib.Memory hit.
"""

from __future__ import annotations

import functools
import gc
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from typing import Callable, Dict, List, Sequence, Tuple

import cachetools
import diskcache
import joblib

import sturdycache

QUICK = os.environ.get("STURDY_BENCH_QUICK") == "1"
VALUE = bytes(range(256)) * 4  # 1 KiB
ROUNDS = 3 if QUICK else 7
HOT_KEYS = 10_000 if QUICK else 100_000
WARM_KEYS = 2_000 if QUICK else 20_000
SET_BATCH = 500 if QUICK else 2_000
MEMO_CALLS = 20_000 if QUICK else 100_000

#: Median microseconds to create a 1 KiB file beyond which the file system is
#: not in its usual state (a healthy local disk: 5-30; see `file_creation_probe`).
SLOW_CREATE_US = 50.0

Result = Tuple[str, float, str, float, str, float]  # what, ours ns, peer, peer ns, target, needed ratio
results: List[Tuple[str, float, str, float, str]] = []


def per_call_ns(run: Callable[[], int]) -> float:
    gc.disable()
    try:
        started = time.perf_counter_ns()
        n = run()
        return (time.perf_counter_ns() - started) / n
    finally:
        gc.enable()


def alternate(ours: Callable[[int], float], peer: Callable[[int], float]) -> Tuple[float, float, float]:
    """Median per-call ns of each side over alternating rounds, and the median per-round ratio."""
    a: List[float] = []
    b: List[float] = []
    for r in range(ROUNDS):
        if r % 2 == 0:
            a.append(ours(r))
            b.append(peer(r))
        else:
            b.append(peer(r))
            a.append(ours(r))
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in zip(a, b))


def report(what: str, ours_ns: float, peer: str, peer_ns: float, ab: float, target: str, ok: bool) -> None:
    faster = peer_ns / ours_ns
    print(
        f"{what:<34} ours {fmt(ours_ns):>9}  {peer:<34} {fmt(peer_ns):>9}  "
        f"ours/peer {ours_ns / peer_ns:6.3f} (A/B {ab:6.3f}, {faster:7.1f}x faster)  target {target}: "
        f"{'met' if ok else 'MISSED'}"
    )
    sys.stdout.flush()


def fmt(ns: float) -> str:
    return f"{ns / 1000:.2f} us" if ns >= 1000 else f"{ns:.0f} ns"


def keys(n: int, prefix: str) -> List[str]:
    return [f"{prefix}:{i}" for i in range(n)]


def walk(get: Callable[[str], object], order: Sequence[str]) -> Callable[[], int]:
    def run() -> int:
        for k in order:
            get(k)
        return len(order)

    return run


def file_creation_probe(root: str) -> None:
    """Reports how long creating a 1 KiB file takes here; warns when it is slow.

    Some file systems (ext4 without a journal, as on the machines these
    figures come from) pass over inodes deleted in the last one to six
    minutes when they allocate new ones, so right after a mass deletion (a
    previous run's cleanup removes a few hundred thousand entry files) each
    file creation can take ten to fifty times as long. A file-per-entry store
    (sturdycache's disk tier) pays that on every new entry; diskcache's
    SQLite file does not. The probe's files stay until the run's cleanup, so
    the probe deletes nothing of its own."""
    probe = os.path.join(root, "probe")
    os.mkdir(probe)
    times = []
    for i in range(200):
        start = time.perf_counter()
        fd = os.open(os.path.join(probe, str(i)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, VALUE)
        os.close(fd)
        times.append((time.perf_counter() - start) * 1e6)
    median = statistics.median(times)
    print(f"file creation here: {median:.0f} µs per 1 KiB file (median of 200)")
    if median > SLOW_CREATE_US:
        print(f"  SLOW FILE SYSTEM: over {SLOW_CREATE_US:.0f} µs, likely still reclaiming a recent mass deletion "
              "(a previous run's cleanup?); rows that create files will be slow. Re-run in a few minutes.")


def distinct_value(i: int) -> bytes:
    """A 1 KiB value of its own for entry `i` (the last 4 bytes differ)."""
    return VALUE[:-4] + i.to_bytes(4, "little")


def hot_get(root: str) -> None:
    """Hot gets against cachetools on the same keys in the same order.

    The target row gives every entry a value of its own, as a real cache
    holds. The row after it stores one shared bytes object under every key,
    for information: there the peer's get returns a pointer to a single
    object that never leaves the CPU cache, while ours still copies the
    entry's own bytes."""
    for n in (HOT_KEYS, 1_000):
        names = keys(n, "hot")
        order = names[:]
        random.Random(1).shuffle(order)
        reps = max(1, 100_000 // n)
        for shared in (False, True):
            values = [VALUE] * n if shared else [distinct_value(i) for i in range(n)]
            ours = sturdycache.Cache(os.path.join(root, f"hot{n}{'s' if shared else ''}"), memory_limit="1GiB")
            for k, v in zip(names, values):
                ours[k] = v
            for k in names:  # every entry in memory
                ours.get(k)
            lru = cachetools.LRUCache(maxsize=n)
            for k, v in zip(names, values):
                lru[k] = v
            os.sync()  # the sets' writeback must not run during the timing
            o, p, ab = alternate(
                lambda r: per_call_ns(lambda: sum(walk(ours.get, order)() for _ in range(reps))),
                lambda r: per_call_ns(lambda: sum(walk(lru.get, order)() for _ in range(reps))),
            )
            assert ours.stats()["hot_entries"] == n
            if shared:
                print(f"{'  (information) one shared value':<34} ours {fmt(o):>9}  {'cachetools.LRUCache.get':<34} "
                      f"{fmt(p):>9}  ours/peer {o / p:6.3f}")
            else:
                report(f"hot get, {n:,} keys", o, "cachetools.LRUCache.get", p, ab, "<= 1.0", o <= p)
                results.append((f"hot get ({n:,} keys)", o, "cachetools.LRUCache.get", p, "<= 1.0x"))
                d = dict(zip(names, values))
                dict_ns = per_call_ns(walk(d.get, order))
                print(f"{'  (reference) dict.get':<34} {fmt(dict_ns):>14}")
            ours.close()
            del values, lru


def warm_get(root: str) -> None:
    names = keys(WARM_KEYS, "warm")
    order = names[:]
    random.Random(2).shuffle(order)
    ours = sturdycache.Cache(os.path.join(root, "warm"), memory_limit=0)  # no memory tier: every get reads its file
    dc = diskcache.Cache(os.path.join(root, "dc-warm"))
    for k in names:
        ours[k] = VALUE
        dc[k] = VALUE
    o, p, ab = alternate(lambda r: per_call_ns(walk(ours.get, order)), lambda r: per_call_ns(walk(dc.get, order)))
    assert ours.stats()["hot_hits"] == 0 and ours.stats()["disk_hits"] > 0
    report(f"warm get (disk), {WARM_KEYS:,} keys", o, "diskcache.Cache.get", p, ab, "<= 1.0", o <= p)
    results.append(("warm get (entry only on disk)", o, "diskcache.Cache.get", p, "<= 1.0x"))
    ours.close()
    dc.close()


def sets(root: str) -> None:
    through = sturdycache.Cache(os.path.join(root, "set"), durability="none")
    behind = sturdycache.Cache(os.path.join(root, "set-behind"), write_mode="write_behind")
    dc = diskcache.Cache(os.path.join(root, "dc-set"))

    def setter(cache: object, prefix: str) -> Callable[[int], float]:
        def round_(r: int) -> float:
            batch = keys(SET_BATCH, f"{prefix}{r}")
            s = cache.set  # type: ignore[attr-defined]

            def run() -> int:
                for k in batch:
                    s(k, VALUE)
                return len(batch)

            return per_call_ns(run)

        return round_

    o, p, ab = alternate(setter(through, "t"), setter(dc, "d"))
    report("set (new key), durability none", o, "diskcache.Cache.set", p, ab, "<= 1.0", o <= p)
    results.append(("set, durability none", o, "diskcache.Cache.set", p, "<= 1.0x"))

    o, p, ab = alternate(setter(behind, "b"), setter(dc, "e"))
    report("set (new key), write-behind", o, "diskcache.Cache.set", p, ab, ">= 20x faster", p / o >= 20)
    results.append(("set, write-behind", o, "diskcache.Cache.set", p, ">= 20x faster"))
    started = time.perf_counter()
    behind.flush()
    print(f"{'  write-behind flush of the rest':<34} {time.perf_counter() - started:.2f} s")
    for c in (through, behind):
        c.close()
    dc.close()


def memoize(root: str) -> None:
    ours = sturdycache.Cache(os.path.join(root, "memo"))
    dc = diskcache.Cache(os.path.join(root, "dc-memo"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = joblib.Memory(os.path.join(root, "joblib"), verbose=0)

    def compute(x: int) -> bytes:
        return VALUE

    ours_f = ours.memoize()(compute)
    dc_f = dc.memoize()(compute)
    jl_f = memory.cache(compute)
    lru_f = functools.lru_cache(maxsize=None)(compute)
    for f in (ours_f, dc_f, jl_f, lru_f):
        f(7)

    def calls(f: Callable[[int], bytes], n: int) -> Callable[[int], float]:
        def run() -> int:
            for _ in range(n):
                f(7)  # results are dropped: no allocation is kept alive between calls
            return n

        return lambda r: per_call_ns(run)

    o, p, ab = alternate(calls(ours_f, MEMO_CALLS), calls(dc_f, MEMO_CALLS // 20))
    report("memoize hit", o, "diskcache memoize hit", p, ab, ">= 20x faster", p / o >= 20)
    results.append(("memoize hit", o, "diskcache memoize hit", p, ">= 20x faster"))
    o, p, ab = alternate(calls(ours_f, MEMO_CALLS), calls(jl_f, max(200, MEMO_CALLS // 500)))
    report("memoize hit", o, "joblib.Memory hit", p, ab, ">= 100x faster", p / o >= 100)
    results.append(("memoize hit", o, "joblib.Memory hit", p, ">= 100x faster"))
    lru_ns = calls(lru_f, MEMO_CALLS)(0)
    print(f"{'  (reference) functools.lru_cache hit':<34} {fmt(lru_ns):>14}")
    ours.close()
    dc.close()


def threads(root: str) -> None:
    """Warm gets (memory tier off) from 1, 2 and 4 threads: the GIL is released
    around each disk read, so threads overlap their reads. Throughput, not a target."""
    import threading

    names = keys(WARM_KEYS // 4, "thr")
    ours = sturdycache.Cache(os.path.join(root, "threads"), memory_limit=0)
    dc = diskcache.Cache(os.path.join(root, "dc-threads"))
    for k in names:
        ours[k] = VALUE
        dc[k] = VALUE

    def throughput(get: Callable[[str], object], n_threads: int) -> float:
        per_thread = len(names)

        def work() -> None:
            for k in names:
                get(k)

        pool = [threading.Thread(target=work) for _ in range(n_threads)]
        started = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return n_threads * per_thread / (time.perf_counter() - started)

    for label, get in (("sturdycache", ours.get), ("diskcache", dc.get)):
        rates = {n: statistics.median(throughput(get, n) for _ in range(3)) for n in (1, 2, 4)}
        print(
            f"{'warm get throughput, ' + label:<34} "
            + ", ".join(f"{n} thread{'s' if n > 1 else ''} {rates[n] / 1000:.0f}k/s" for n in rates)
            + f" (x{rates[4] / rates[1]:.2f} at 4 threads)"
        )
    ours.close()
    dc.close()


def main() -> None:
    root = tempfile.mkdtemp(prefix="sturdycache-bench-", dir=os.environ.get("STURDY_BENCH_DIR"))
    print(f"sturdycache {sturdycache.__version__}, diskcache {diskcache.__version__}, cachetools "
          f"{cachetools.__version__}, joblib {joblib.__version__}, Python {sys.version.split()[0]}, "
          f"{ROUNDS} alternating rounds{' (quick)' if QUICK else ''}, 1 KiB values, directory {root}")
    only = set(filter(None, os.environ.get("STURDY_BENCH_ONLY", "").split(",")))
    try:
        file_creation_probe(root)
        sections = (("hot", hot_get), ("warm", warm_get), ("sets", sets), ("memoize", memoize), ("threads", threads))
        for name, run in sections:
            if not only or name in only:
                os.sync()  # an earlier section's writeback must not slow this one
                run(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        os.sync()  # written-back inode tables shorten how long the next run sees these deletions as recent
    print("\n| operation (1 KiB values) | sturdycache | peer | peer time | ours/peer | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for what, o, peer, p, target in results:
        print(f"| {what} | {fmt(o)} | {peer} | {fmt(p)} | {o / p:.3f} ({p / o:.1f}x faster) | {target} |")


if __name__ == "__main__":
    main()
