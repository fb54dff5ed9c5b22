"""The resilient-cache interface a FACT-style LLM driver calls.

FACT-style drivers look a query up by its hash before calling the model and
store the answer after; their cache layer wraps the store in a circuit
breaker with fallbacks (store → True, get → miss, invalidate → 0) and reports
metrics shaped ``{"circuit_breaker": {...}, "cache": {...}}``. Here the
breakers, fallbacks and recovery are the core's (two breakers guarding the
disk's read and write paths, memory standing in while the disk is out); this
adapter only maps names and shapes::

    from sturdycache.integrations.fact import ResilientCache

    cache = ResilientCache("/var/cache/fact", ttl=3600)
    h = cache.generate_hash(query)
    answer = await cache.get(h)
    if answer is None:
        answer = await call_llm(query)
        cache.store(h, answer)

No method raises because of the disk; bad input (an oversized answer) is
logged and refused (``store`` returns False).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Dict, Optional

from ..cache import Cache

log = logging.getLogger("sturdycache.integrations.fact")

#: Tag of every entry stored through this adapter (``invalidate()`` evicts them).
TAG = "fact"

_SEVERITY = {"closed": 0, "disabled": 0, "half_open": 1, "open": 2, "forced_open": 2}


class ResilientCache:
    """A FACT-style cache over a :class:`sturdycache.Cache`.

    Give an open ``cache``, or a ``directory`` and settings to open one.
    ``ttl`` (seconds) applies to entries stored without their own.
    """

    def __init__(
        self,
        directory: Optional[str] = None,
        *,
        cache: Optional[Cache] = None,
        ttl: Optional[float] = 3600.0,
        prefix: str = "fact:",
        **settings: Any,
    ) -> None:
        if cache is not None and (directory is not None or settings):
            raise TypeError("give either cache= or a directory and settings, not both")
        self.cache = cache if cache is not None else Cache(directory, **settings)
        self.ttl = ttl
        self.prefix = prefix
        self._stores = 0
        self._refused = 0

    @staticmethod
    def generate_hash(query: str) -> str:
        """A stable hex digest of ``query`` (SHA-256 of its stripped UTF-8 text)."""
        return hashlib.sha256(query.strip().encode("utf-8", "surrogatepass")).hexdigest()

    def _key(self, query_hash: str) -> str:
        return self.prefix + query_hash

    async def get(self, query_hash: str) -> Any:
        """The stored answer for ``query_hash``, or None (a miss, also while
        the disk is failing and the answer is not in memory)."""
        try:
            return await self.cache.aget(self._key(query_hash))
        except (ValueError, TypeError) as e:
            log.warning("cache get refused: %s", e)
            return None

    def get_sync(self, query_hash: str) -> Any:
        """:meth:`get` for synchronous drivers."""
        try:
            return self.cache.get(self._key(query_hash))
        except (ValueError, TypeError) as e:
            log.warning("cache get refused: %s", e)
            return None

    def store(self, query_hash: str, content: Any, ttl: Optional[float] = None) -> bool:
        """Stores an answer. True when stored (on disk, or in memory and
        queued for the disk while it is failing); False only for input the
        cache refuses (too large, not storable)."""
        try:
            self.cache.set(self._key(query_hash), content, expire=ttl if ttl is not None else self.ttl, tag=TAG)
        except (ValueError, TypeError) as e:
            self._refused += 1
            log.warning("cache store refused: %s", e)
            return False
        self._stores += 1
        return True

    async def set(self, query_hash: str, content: Any, ttl: Optional[float] = None) -> bool:
        """:meth:`store` without blocking the event loop."""
        try:
            await self.cache.aset(self._key(query_hash), content, ttl if ttl is not None else self.ttl, TAG)
        except (ValueError, TypeError) as e:
            self._refused += 1
            log.warning("cache store refused: %s", e)
            return False
        self._stores += 1
        return True

    def invalidate(self, query_hash: Optional[str] = None) -> int:
        """Removes one answer, or every answer stored through this adapter
        (``query_hash=None``). Returns how many were removed."""
        try:
            if query_hash is None:
                return self.cache.evict(TAG)
            return 1 if self.cache.delete(self._key(query_hash)) else 0
        except (ValueError, TypeError) as e:
            log.warning("cache invalidate refused: %s", e)
            return 0

    async def delete(self, query_hash: str) -> bool:
        """Removes one answer without blocking the event loop."""
        return bool(await self.cache.adelete(self._key(query_hash)))

    def get_metrics(self) -> Dict[str, Any]:
        """``{"circuit_breaker": {...}, "cache": {...}}`` as FACT dashboards read it.

        ``circuit_breaker.state`` is the worse of the read and write path
        breakers (closed, half_open, open); ``failure_rate`` the higher of
        their failure rates over the rolling window.
        """
        s = self.cache.stats()
        r = s["resilience"]
        read, write = r["read_breaker"], r["write_breaker"]
        worst = max((read, write), key=lambda b: _SEVERITY.get(b["state"], 2))
        state = {"forced_open": "open", "disabled": "closed"}.get(worst["state"], worst["state"])
        return {
            "circuit_breaker": {
                "state": state,
                "failure_rate": max(read["failure_rate"], write["failure_rate"]),
                "failure_count": read["failures_in_window"] + write["failures_in_window"],
                "consecutive_failures": max(read["consecutive_failures"], write["consecutive_failures"]),
                "trips": read["trips"] + write["trips"],
                "read": read["state"],
                "write": write["state"],
                "mode": r["mode"],
                "disk_health": r["disk_health"],
                "fallback_reads": r["fallback_reads"],
                "fallback_writes": r["fallback_writes"],
                "recoveries": r["recoveries"],
            },
            "cache": {
                "hit_rate": s["hit_rate"],
                "hits": s["hits"],
                "misses": s["misses"],
                "memory_entries": s["hot_entries"],
                "disk_entries": s["disk_entries"],
                "disk_bytes": s["disk_bytes"],
                "quarantined": s["quarantined"],
                "queued_writes": s["replay"]["depth"],
                "stores": self._stores,
                "refused": self._refused,
            },
        }

    def close(self) -> None:
        """Closes the underlying cache."""
        self.cache.close()
