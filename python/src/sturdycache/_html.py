"""The cache at a glance in Jupyter: tiers, sizes, hit rate, mode, breakers."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:
    from .cache import Cache

_MODE_COLOUR = {"normal": "#2e7d32", "read_only": "#ef6c00", "memory_only": "#c62828"}
_BREAKER_COLOUR = {"closed": "#2e7d32", "half_open": "#ef6c00", "disabled": "#757575"}


def human_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def _badge(text: str, colour: str) -> str:
    return (
        f'<span style="background:{colour};color:white;border-radius:3px;padding:0 6px">'
        f"{html.escape(text)}</span>"
    )


def render(cache: "Cache") -> str:
    """An HTML table summarising ``cache``."""
    s: Dict[str, Any] = cache.stats()
    r = s["resilience"]
    mode = r["mode"]
    rows = [
        ("directory", f"<code>{html.escape(cache.directory)}</code>"),
        ("mode", _badge(mode, _MODE_COLOUR.get(mode, "#c62828"))),
        ("disk health", html.escape(r["disk_health"])),
        (
            "memory tier",
            f"{s['hot_entries']:,} entries · {human_bytes(s['hot_bytes'])} of {human_bytes(s['hot_limit'])}"
            f" ({_pct(s['hot_bytes'], s['hot_limit'])})",
        ),
        (
            "disk tier",
            f"{s['disk_entries']:,} entries · {human_bytes(s['disk_bytes'])} of {human_bytes(s['disk_limit'])}"
            f" ({_pct(s['disk_bytes'], s['disk_limit'])})",
        ),
        (
            "hit rate",
            f"{100 * s['hit_rate']:.1f}% ({s['hot_hits']:,} memory + {s['disk_hits']:,} disk hits,"
            f" {s['misses']:,} misses)",
        ),
    ]
    for name in ("read", "write"):
        b = r[f"{name}_breaker"]
        state = b["state"]
        detail = f" · failure rate {100 * b['failure_rate']:.0f}% · {b['trips']} trips"
        rows.append((f"{name} breaker", _badge(state, _BREAKER_COLOUR.get(state, "#c62828")) + detail))
    q = s["replay"]
    rows.append(("replay queue", f"{q['depth']:,} writes ({human_bytes(q['bytes'])}) · {q['dropped']:,} dropped"))
    rows.append(("quarantined", f"{s['quarantined']:,} corrupt files"))
    if r["last_error"]:
        rows.append(("last disk error", html.escape(f"{r['last_error']['kind']}: {r['last_error']['message']}")))
    body = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{k}</th><td style="text-align:left">{v}</td></tr>'
        for k, v in rows
    )
    return f'<table class="sturdycache"><caption style="text-align:left"><b>sturdycache</b></caption>{body}</table>'
