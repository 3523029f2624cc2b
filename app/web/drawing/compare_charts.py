"""The comparison page's charts: both networks' losses in one chart, and their gradient norms
in two charts, each pair on one scale (same epochs, same loss or norm range), so that two curves
are compared by their position and not by their axes.

The helpers of app/web/drawing/charts.py (ticks, scales, paths, labels) are reused; only the shared
ranges are new."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from app.sessions.state import HistoryPoint
from app.web.drawing import charts
from app.web.drawing.charts import MB, ML, MR, MT, NormChart, Series, Tick
from app.web.infra.fmt import num

# A and B: blue and orange (ColorBrewer, distinguishable with every common colour-vision
# deficiency), and a shape at each line's end (A a circle, B a square), so colour is never the
# only cue; the test curve of each is dashed.
COLORS = {"a": "#2166ac", "b": "#d95f02"}
W, H = 640, 250  # the margins are the single chart's (charts.ML …); 10 units shorter


@dataclass
class Line:
    """One curve of the loss chart: whose (a or b), which (train or test), its path."""

    who: str
    kind: str
    path: str
    color: str
    dash: str
    end: tuple[float, float] | None = None


@dataclass
class PairCurve:
    """Both networks' loss curves on one scale (the attributes grid_svg and epoch_axes_svg
    read are those of charts.Curve)."""

    width: int = W
    height: int = H
    left: int = ML
    right: int = W - MR
    top: int = MT
    bottom: int = H - MB
    lines: list[Line] = field(default_factory=list)
    xticks: list[Tick] = field(default_factory=list)
    yticks: list[Tick] = field(default_factory=list)
    log: bool = False
    empty: bool = True
    last: dict[str, dict[str, str | None]] = field(default_factory=dict)


def _points(history: list[HistoryPoint]) -> list[tuple[float, float, float | None]]:
    out = []
    for h in history:
        e, v, t = h["epoch"], h["loss"], h["test_loss"]
        if v is None or not math.isfinite(v) or not math.isfinite(float(e)):
            continue
        out.append((float(e), float(v), float(t) if t is not None and math.isfinite(t)
                    else None))
    return out


def pair_curve(histories: dict[str, list[HistoryPoint]], log: bool) -> PairCurve:
    """The loss of both networks (train solid, test dashed) against the epoch, one x and one
    y scale for all four curves: linear from 0 (5 % headroom), or log10 by whole decades."""
    c = PairCurve(log=log)
    pts = {who: _points(h) for who, h in histories.items()}
    for who, p in pts.items():
        c.last[who] = {"epoch": None if not p else str(int(p[-1][0])),
                       "train": None if not p else num(p[-1][1], 6),
                       "test": None if not p or p[-1][2] is None else num(p[-1][2], 6)}
    every = [q for p in pts.values() for q in p]
    if not every:
        return c
    c.empty = False
    values = [v for _e, v, _t in every] + [t for _e, _v, t in every if t is not None]
    x0 = min(e for e, _v, _t in every)
    x1 = max(max(e for e, _v, _t in every), x0 + 1.0)
    floor = 1e-12
    if log:
        lv = [math.log10(max(v, floor)) for v in values]
        y0, y1 = float(math.floor(min(lv))), float(math.ceil(max(lv)))
        if y1 == y0:
            y1 = y0 + 1
        step = max(1, math.ceil((y1 - y0) / 6))
        exps = list(range(int(y0), int(y1) + 1, step))
        tick_vals = [float(e) for e in exps]
        labels = [f"1e{e}" if e not in (0, 1) else str(10 ** e) for e in exps]
    else:
        top = max(values)
        y0 = min(0.0, min(values))
        y1 = max(top * 1.05, 1e-300) if top > 0 else 1.0
        tick_vals = [v for v in charts.nice_ticks(y0, y1) if v <= y1 * 1.5]
        if tick_vals:
            y1 = max(y1, tick_vals[-1])
        labels = [num(v, 3) for v in tick_vals]
    sx = charts._scale(c.right - c.left, x0, x1)
    sy = charts._scale(c.bottom - c.top, y0, y1)

    def X(e: float) -> float:
        return c.left + (e - x0) * sx

    def Y(v: float) -> float:
        y = math.log10(max(v, floor)) if log else v
        return c.bottom - (y - y0) * sy

    c.yticks = [Tick(round(c.bottom - (v - y0) * sy, 1), lab)
                for v, lab in zip(tick_vals, labels, strict=True)]
    c.xticks = [Tick(round(X(e), 1), charts._epoch_label(e))
                for e in charts.nice_ticks(x0, x1) if x0 <= e <= x1 and float(e).is_integer()]
    for who, p in pts.items():
        if not p:
            continue
        train = [(X(e), Y(v)) for e, v, _t in p]
        test = [(X(e), Y(t)) for e, _v, t in p if t is not None]
        for kind, xy, dash in (("test", test, "6 4"), ("train", train, "")):
            if xy:
                end = (round(xy[-1][0], 1), round(xy[-1][1], 1))
                c.lines.append(Line(who, kind, charts._path(xy) if len(xy) > 1 else "",
                                    COLORS[who], dash, end))
    return c


def pair_norm_charts(histories: dict[str, list[HistoryPoint]]
                     ) -> dict[str, NormChart | None]:
    """‖∂L/∂W_l‖ per layer of each network, log scale, both charts on the same epoch and
    decade range (None for a network with no epoch recorded yet)."""
    pts: dict[str, list[tuple[float, list[float]]]] = {}
    for who, history in histories.items():
        p = [(float(h["epoch"]), g) for h in history if (g := h.get("grad_norm"))]
        if len(p) > charts.NORM_POINTS:  # evenly thinned, first and last kept
            step = (len(p) - 1) / (charts.NORM_POINTS - 1)
            p = [p[round(i * step)] for i in range(charts.NORM_POINTS)]
        if p:
            L = len(p[-1][1])
            pts[who] = [(e, g) for e, g in p if len(g) == L]
    out: dict[str, NormChart | None] = {who: None for who in histories}
    if not pts:
        return out
    floor = 1e-12
    logs = {who: np.log10(np.maximum(np.array([g for _e, g in p], dtype=np.float64), floor))
            for who, p in pts.items()}
    y0 = float(math.floor(min(float(v.min()) for v in logs.values())))
    y1 = float(math.ceil(max(float(v.max()) for v in logs.values())))
    if y1 == y0:
        y1 = y0 + 1
    x0 = min(p[0][0] for p in pts.values())
    x1 = max(max(p[-1][0] for p in pts.values()), x0 + 1)
    for who, p in pts.items():
        c = NormChart(height=140, bottom=140 - MB)  # wide and short: two fit beside the loss
        c.points = len(p)
        sx = (c.right - c.left) / (x1 - x0)
        sy = (c.bottom - c.top) / (y1 - y0)
        step = max(1, math.ceil((y1 - y0) / 5))
        c.yticks = [Tick(round(c.bottom - (e - y0) * sy, 1), f"1e{e}" if e not in (0, 1)
                         else str(10 ** e)) for e in range(int(y0), int(y1) + 1, step)]
        c.xticks = [Tick(round(c.left + (e - x0) * sx, 1), charts._epoch_label(e))
                    for e in charts.nice_ticks(x0, x1) if x0 <= e <= x1 and float(e).is_integer()]
        xs = (c.left + (np.array([e for e, _g in p]) - x0) * sx).tolist()
        ys = (c.bottom - (logs[who] - y0) * sy).T.tolist()
        for l in range(len(ys)):
            path = "M" + "L".join(map(charts.POINT, xs, ys[l])) if len(xs) > 1 else ""
            c.series.append(Series(f"W⁽{l + 1}⁾".translate(charts.SUPERSCRIPT_DIGITS), path,
                                   charts.NORM_DASHES[l % len(charts.NORM_DASHES)],
                                   charts.NORM_COLORS[l % len(charts.NORM_COLORS)],
                                   round(xs[-1], 1), round(ys[l][-1], 1)))
        charts._spread_labels(c.series, 14.0)
        c.last = [num(v, 3) for v in p[-1][1]]
        out[who] = c
    return out
