"""A region's template rendered once, with its changing values left open (slots), then filled
tick after tick: Play frames redraw the same markup around new numbers and pictures, and
Jinja's per-expression work (escaping, attribute lookups, loops over static parts) was most of
a live region's cost.

A template may read a slotted value only by outputting it (``{{ v }}``) or as an argument of a
translated phrase's ``.format()``: both escape it, as :func:`fill` does. Everything else it
reads goes into the caller's key (a hashable tuple), or a cached skeleton would be
stale; tests/web/test_frame_caches.py compares filled regions with full renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import escape

from app.web.drawing.heatmaps import LRU

MARK = "\x00"  # never in a template or a translation: a slot is MARK + its number + MARK
SKELETONS: LRU[list[str]] = LRU(512)


class Slot:
    """A value left open: renders as its marker, wherever an escaped value would go."""

    __slots__ = ("k",)

    def __init__(self, k: int) -> None:
        self.k = k

    def __html__(self) -> str:
        return f"{MARK}{self.k}{MARK}"

    __str__ = __html__


def fill(render: Callable[[str, Mapping[str, Any]], str], name: str,
         slotted: Callable[[], Mapping[str, Any]], key: tuple[Any, ...],
         values: Sequence[Any]) -> str:
    """The template ``name`` as ``render`` would draw it with ``values`` in its slots:
    ``slotted()`` is the context with ``Slot(k)`` in place of ``values[k]`` (called once per
    key), ``key`` everything else the template reads."""
    cache_key = (name, key)  # a tuple of strings and numbers: hashed as is, no repr
    parts = SKELETONS.get(cache_key)
    if parts is None:
        parts = render(name, slotted()).split(MARK)
        if len(parts) % 2 == 0 or not all(k.isdigit() and int(k) < len(values)
                                          for k in parts[1::2]):
            raise ValueError(f"{name}: a slot marker out of place")
        SKELETONS.put(cache_key, parts)
    return interleave(parts, [str(escape(v)) for v in values])


def interleave(parts: Sequence[str], values: Sequence[str]) -> str:
    """A skeleton (its text split on MARK: text, slot number, text, …) with each slot's
    value, as written (already escaped where it must be)."""
    out = list(parts)
    for i in range(1, len(out), 2):
        out[i] = values[int(out[i])]
    return "".join(out)
