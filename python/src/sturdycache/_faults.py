"""``cache.faults``: the chaos API, to rehearse a failing disk against your
own application (faults go through the cache's file-system seam, so nothing
real is harmed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

if TYPE_CHECKING:
    from .cache import Cache

#: Operations a fault can hit.
OPS = ("read", "write", "fsync", "rename", "delete", "all")
#: What an injected fault does.
ERRORS = ("eio", "enospc", "erofs", "eacces", "corruption", "delay")


class Fault:
    """One armed fault. ``with cache.faults.inject(...):`` disarms it on exit."""

    __slots__ = ("id", "_faults")

    def __init__(self, faults: "Faults", fault_id: int) -> None:
        self.id = fault_id
        self._faults = faults

    def remove(self) -> bool:
        """Disarms this fault; False if it had already fired out or been removed."""
        return self._faults.remove(self)

    def __enter__(self) -> "Fault":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<Fault {self.id}>"


class Faults:
    """Inject and clear disk faults on one cache."""

    __slots__ = ("_cache",)

    def __init__(self, cache: "Cache") -> None:
        self._cache = cache

    def inject(
        self,
        op: str = "all",
        error: str = "eio",
        *,
        times: Optional[int] = None,
        probability: Optional[float] = None,
        delay: Optional[float] = None,
    ) -> Fault:
        """Arms a fault and returns it.

        ``op``: one of :data:`OPS`; ``error``: one of :data:`ERRORS`
        (``"delay"`` stalls each call for ``delay`` seconds, ``"corruption"``
        flips a bit in what reads return). Fires on every matching call until
        removed, or on the next ``times`` calls, or on each call with
        ``probability``.
        """
        if op not in OPS:
            raise ValueError(f"op must be one of {', '.join(OPS)}; got {op!r}")
        if error not in ERRORS:
            raise ValueError(f"error must be one of {', '.join(ERRORS)}; got {error!r}")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within 0.0..1.0, got {probability}")
        fault_id = self._cache._inject_fault(op, error, times, probability, delay)
        return Fault(self, fault_id)

    def remove(self, fault: Union[Fault, int]) -> bool:
        """Disarms one fault; False if it was not armed."""
        return bool(self._cache._remove_fault(fault.id if isinstance(fault, Fault) else fault))

    def clear(self) -> None:
        """Disarms every fault."""
        self._cache._clear_faults()

    @property
    def active(self) -> int:
        """Faults still armed."""
        return int(self._cache._faults_active())

    @property
    def injected(self) -> int:
        """Faults fired so far."""
        return int(self._cache._faults_injected())
