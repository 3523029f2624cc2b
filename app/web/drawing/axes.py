"""Axis ticks shared by the page's plots (the loss curve, the gradient norms, the input plane):
round values covering a range, at most MAX_TICKS of them, for any finite input."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Tick:
    pos: float
    label: str


MAX_TICKS = 12


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: at most MAX_TICKS, for any finite input (a span
    that overflows, a step below the spacing of floats near lo, a single point)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + max(1.0, abs(lo) * 1e-9)
        if not math.isfinite(hi) or hi <= lo:
            return [lo]
    raw = (hi / count) - (lo / count)  # divided first: hi - lo may overflow
    if not (math.isfinite(raw) and raw > 0):
        return [lo]
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), 10 * mag)
    if not (math.isfinite(step) and step > 0):
        return [lo]
    start = math.ceil(lo / step) * step
    if not math.isfinite(start):
        return [lo]
    out: list[float] = []
    for i in range(MAX_TICKS):  # bounded: start + i·step, never an accumulating sum
        v = start + i * step
        if not math.isfinite(v) or v > hi + step * 1e-9:
            break
        short = float(f"{v:.12g}")  # 0.30000000000000004 → 0.3, at any magnitude
        v = short if not out or short > out[-1] else v
        if out and v <= out[-1]:
            break
        out.append(v)
    return out or [lo]
