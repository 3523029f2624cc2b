"""The page's charts over epochs: the loss curve and the gradient norms per layer (SVG geometry
with axes and ticks). One module: both share the scale, path, label and axis helpers. The input
plane's output heatmap is app/web/drawing/plane.py."""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from markupsafe import Markup, escape
from numpy.typing import NDArray

from app.sessions.state_model import HistoryPoint
from app.web.drawing.axes import MAX_TICKS, Tick, nice_ticks
from app.web.drawing.plane import (
    GRID,
    NEG_DARK,
    PLAY_GRID,
    POS_DARK,
    Heatmap,
    heatmap,
    marks,
    plot_domain,
    plot_values,
    value_range,
)
from app.web.drawing.png import PALETTE, SHADES, png_data_uri, png_palette_uri, shade_index
from app.web.infra.fmt import num

# The axes' ticks (axes.py), the input plane (plane.py) and the PNG encoder (png.py) were
# split out of this module; their names stay importable from here.
__all__ = ["GRID", "MAX_TICKS", "NEG_DARK", "PALETTE", "PLAY_GRID", "POS_DARK", "SHADES",
           "Heatmap", "Tick", "heatmap", "marks", "nice_ticks", "plot_domain", "plot_values",
           "png_data_uri", "png_palette_uri", "shade_index", "value_range"]

CURVE_POINTS = 300  # history points requested from session_state (decimated, ends kept)
W, H = 640, 260
ML, MR, MT, MB = 62, 14, 12, 40


@dataclass
class Curve:
    width: int = W
    height: int = H
    left: int = ML
    right: int = W - MR
    top: int = MT
    bottom: int = H - MB
    train: str = ""
    test: str = ""
    xticks: list[Tick] = field(default_factory=list)
    yticks: list[Tick] = field(default_factory=list)
    points: int = 0
    last_epoch: int | None = None
    last_loss: float | None = None
    last_test: float | None = None
    log: bool = False
    empty: bool = True
    dot: tuple[float, float] | None = None  # a single point is drawn as a point
    dot_test: tuple[float, float] | None = None

    # What partials/loss.html writes (Play fills it from a skeleton: app/web/routes/live_regions.py)
    @property
    def last_loss_text(self) -> str:
        return num(self.last_loss, 6)

    @property
    def last_test_text(self) -> str:
        return num(self.last_test, 6)

    @property
    def grid(self) -> Markup:
        return grid_svg(self)

    def axes(self, title: str) -> Markup:
        return epoch_axes_svg(self, title)


# (epoch, loss, test loss) and (epoch, gradient norms per layer) of the points to draw, as
# lists of points (history dicts, the tests' edge cases); the pages read the history's columns
# instead (loss_curve_columns, grad_norm_chart_columns), through the same drawing.
LossPoint = tuple[Any, Any, Any]
NormPoint = tuple[Any, Any]


def loss_curve(history: list[HistoryPoint], log: bool) -> Curve:
    return loss_curve_of([(h["epoch"], h["loss"], h["test_loss"]) for h in history], log)


def loss_curve_of(points: list[LossPoint], log: bool) -> Curve:
    """The curve of (epoch, loss, test loss) points; those without a finite loss and epoch are
    left out, test losses that are None or not finite too."""
    pts = [(e, v, t) for e, v, t in points
           if v is not None and math.isfinite(v) and _finite_epoch(e)]
    if not pts:
        return Curve(log=log)
    return _loss_curve(np.array([float(e) for e, _v, _t in pts]),
                       np.array([v for _e, v, _t in pts], dtype=np.float64),
                       np.array([np.nan if t is None else t for _e, _v, t in pts],
                                dtype=np.float64), pts[-1][0], pts[-1][2], log)


def loss_curve_columns(epoch: NDArray[np.int64], loss: NDArray[np.float64],
                       test: NDArray[np.float64], log: bool) -> Curve:
    """The same curve from the history's columns (app/nn/history.py; test NaN where none)."""
    ok = np.isfinite(loss)
    if not ok.all():
        epoch, loss, test = epoch[ok], loss[ok], test[ok]
    if not len(loss):
        return Curve(log=log)
    last_test = float(test[-1])
    return _loss_curve(epoch.astype(np.float64), loss, test, int(epoch[-1]),
                       None if math.isnan(last_test) else last_test, log)


def _loss_curve(xe: NDArray[np.float64], v: NDArray[np.float64], t: NDArray[np.float64],
                last_epoch: Any, last_test: Any, log: bool) -> Curve:
    """``xe``, ``v``, ``t``: the points' epochs (as floats), losses (finite) and test losses
    (NaN or not finite where none is drawn)."""
    c = Curve(log=log)
    c.empty, c.points = False, len(v)
    c.last_epoch, c.last_loss, c.last_test = last_epoch, float(v[-1]), last_test
    tested = np.isfinite(t)
    values = np.concatenate([v, t[tested]])
    x0 = float(xe[0])
    x1 = max(float(xe[-1]), x0 + 1.0)
    if not x1 > x0:  # beyond 2**53 x0 + 1 == x0: the next float up instead
        x1 = math.nextafter(x0, math.inf)
    y0: float
    y1: float
    yt_vals: list[float]
    if log:
        floor = 1e-12
        lv = [math.log10(max(x, floor)) for x in values.tolist()]
        y0, y1 = float(math.floor(min(lv))), float(math.ceil(max(lv)))
        if y1 == y0:
            y1 = y0 + 1

        def fy(x: float) -> float:
            return float(math.log10(max(x, floor)))
        step = max(1, math.ceil((y1 - y0) / 6))
        exps = range(int(y0), int(y1) + 1, step)
        c.yticks = [Tick(0, f"1e{e}" if e not in (0, 1) else str(10 ** e)) for e in exps]
        yt_vals = [float(e) for e in exps]
    else:
        top = float(values.max())
        # 5 % headroom, without overflowing near the largest float; at least 1e-300 so the
        # scale (pixels per unit) stays finite for subnormal losses
        y0, y1 = 0.0, max(top * 1.05 if top < 1e307 else top, 1e-300) if top > 0 else 1.0

        def fy(x: float) -> float:
            return float(x)
        yt_vals = [x for x in nice_ticks(y0, y1) if x <= y1 * 1.5 or y1 < 0]
        if yt_vals:
            y1 = max(y1, yt_vals[-1])
        low = float(values.min())
        if low < 0:
            y0 = low
            yt_vals = [x for x in yt_vals if x >= y0]
        c.yticks = [Tick(0, num(x, 3)) for x in yt_vals]
    sx = _scale(c.right - c.left, x0, x1)
    sy = _scale(c.bottom - c.top, y0, y1)

    def X(e: float) -> float:
        return c.left + (float(e) / 2 - x0 / 2) * sx * 2  # halves: no overflow on the way

    def Y(x: float) -> float:
        return c.bottom - (fy(x) / 2 - y0 / 2) * sy * 2

    for tick, x in zip(c.yticks, yt_vals, strict=True):
        tick.pos = round(Y(x) if not log else c.bottom - (x - y0) * sy, 1)
    c.xticks = [Tick(round(X(e), 1), _epoch_label(e))
                for e in nice_ticks(x0, x1) if x0 <= e <= x1 and float(e).is_integer()]
    # Every point at once: the same operations as X and Y, in the same order, element by
    # element (the log scale's log10 stays math's, point by point).
    with np.errstate(all="ignore"):
        xs = (c.left + (xe / 2 - x0 / 2) * sx * 2).tolist()
        fv = np.array([fy(x) for x in v.tolist()]) if log else v
        ys = (c.bottom - (fv / 2 - y0 / 2) * sy * 2).tolist()
        tests = np.flatnonzero(tested).tolist()
        ft = (np.array([fy(x) for x in t[tested].tolist()], dtype=np.float64) if log
              else t[tested])
        yt = (c.bottom - (ft / 2 - y0 / 2) * sy * 2).tolist()
    xs_text = _tenths(xs)  # the x positions written once for both curves
    c.train = _points_path(xs_text, ys)
    if len(v) == 1:
        c.dot = (round(X(xe[0]), 1), round(Y(v[0]), 1))
        if tested[0]:
            c.dot_test = (round(X(xe[0]), 1), round(Y(t[0]), 1))
    c.test = _points_path([xs_text[k] for k in tests], yt) if tests else ""
    return c


def _scale(pixels: float, lo: float, hi: float) -> float:
    """Pixels per unit over [lo, hi], from the halved span so a huge finite span cannot
    overflow; 0 (everything at the axis) when the span has no usable size."""
    half = hi / 2 - lo / 2
    if not (half > 0 and math.isfinite(half)):
        return 0.0
    scale = pixels / half / 2
    return scale if math.isfinite(scale) else 0.0


def _finite_epoch(e: Any) -> bool:
    try:
        return math.isfinite(float(e))
    except (OverflowError, TypeError, ValueError):
        return False
@dataclass
class Series:
    label: str
    path: str
    dash: str
    color: str
    end_x: float = 0.0
    end_y: float = 0.0

    @property
    def label_y(self) -> float:  # the layer's name, beside the line's end
        return self.end_y + 4


@dataclass
class NormChart:
    width: int = W
    height: int = 220
    left: int = ML
    right: int = W - MR - 46  # room for the layer names at the lines' ends
    top: int = MT
    bottom: int = 220 - MB
    series: list[Series] = field(default_factory=list)
    xticks: list[Tick] = field(default_factory=list)
    yticks: list[Tick] = field(default_factory=list)
    points: int = 0
    last: list[str] = field(default_factory=list)

    # What partials/gradnorms.html writes (as Curve's)
    @property
    def last_text(self) -> Markup:
        return Markup(", ").join(self.last)

    @property
    def grid(self) -> Markup:
        return grid_svg(self)

    def axes(self, title: str) -> Markup:
        return epoch_axes_svg(self, title)


# Layer lines: a sequential, colour-blind-safe ramp (viridis stops) and a dash per layer, so
# colour is never the only cue; each line is also named at its end.
NORM_COLORS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#b8a100", "#7a5195", "#ef5675",
               "#003f5c", "#444444", "#bc5090")
NORM_DASHES = ("", "8 4", "2 3", "10 3 2 3", "4 4", "1 2", "12 4", "6 2 2 2", "3 6", "14 2")


NORM_POINTS = 100  # points per layer line (the chart is about 600 px wide)


def grad_norm_chart(history: list[HistoryPoint]) -> NormChart | None:
    return grad_norm_chart_of([(h["epoch"], h.get("grad_norm")) for h in history])


def grad_norm_chart_of(points: list[NormPoint]) -> NormChart | None:
    """‖∂L/∂W_l‖ per layer and epoch on a log scale, from (epoch, norms) points (norms None,
    empty or not all finite: left out); None before any epoch recorded one."""
    isfinite = math.isfinite
    pts = [(e, g) for e, g in points if g and all(map(isfinite, g))]
    if not pts:
        return None
    if len(pts) > NORM_POINTS:  # evenly thinned, first and last kept: a few KB per frame
        step = (len(pts) - 1) / (NORM_POINTS - 1)
        pts = [pts[round(i * step)] for i in range(NORM_POINTS)]
    L = len(pts[0][1])
    full = [(e, g) for e, g in pts if len(g) == L]
    return _norm_chart(np.array([float(e) for e, _g in full]),
                       np.array([g for _e, g in full], dtype=np.float64), pts[0][0],
                       pts[-1][0], len(pts), list(pts[-1][1]))


def grad_norm_chart_columns(epoch: NDArray[np.int64], grad_norm: NDArray[np.float64]
                            ) -> NormChart | None:
    """The same chart from the history's columns (rows of NaN where none was recorded)."""
    ok = np.isfinite(grad_norm).all(axis=1) if grad_norm.shape[1] else np.zeros(len(epoch), bool)
    epoch, grad_norm = epoch[ok], grad_norm[ok]
    if not len(epoch):
        return None
    if len(epoch) > NORM_POINTS:  # as above: round() and np.round both round half to even
        step = (len(epoch) - 1) / (NORM_POINTS - 1)
        pick = np.round(np.arange(NORM_POINTS) * step).astype(np.int64)
        epoch, grad_norm = epoch[pick], grad_norm[pick]
    return _norm_chart(epoch.astype(np.float64), grad_norm, int(epoch[0]), int(epoch[-1]),
                       len(epoch), grad_norm[-1].tolist())


def _norm_chart(xe: NDArray[np.float64], norms: NDArray[np.float64], first: Any, last: Any,
                points: int, latest: list[float]) -> NormChart:
    c = NormChart()
    c.points = points
    L = norms.shape[1]
    floor = 1e-12
    # Every point of every layer at once: log10 of the norms (the floor keeps 0 finite).
    logs = np.log10(np.maximum(norms, floor))
    y0, y1 = float(math.floor(logs.min())), float(math.ceil(logs.max()))
    if y1 == y0:
        y1 = y0 + 1
    x0, x1 = float(first), float(max(last, first + 1))
    sx = (c.right - c.left) / (x1 - x0)
    sy = (c.bottom - c.top) / (y1 - y0)
    step = max(1, math.ceil((y1 - y0) / 5))
    c.yticks = [Tick(round(c.bottom - (e - y0) * sy, 1), f"1e{e}" if e not in (0, 1)
                     else str(10 ** e)) for e in range(int(y0), int(y1) + 1, step)]
    c.xticks = [Tick(round(c.left + (e - x0) * sx, 1), _epoch_label(e))
                for e in nice_ticks(x0, x1) if x0 <= e <= x1 and float(e).is_integer()]
    xs = (c.left + (xe - x0) * sx).tolist()
    ys = (c.bottom - (logs - y0) * sy).T.tolist()
    xs_text = _tenths(xs)  # written once for every layer's line
    for l in range(L):
        path = _points_path(xs_text, ys[l]) if len(xs) > 1 else ""
        c.series.append(Series(f"W⁽{l + 1}⁾".translate(SUPERSCRIPT_DIGITS), path,
                               NORM_DASHES[l % len(NORM_DASHES)],
                               NORM_COLORS[l % len(NORM_COLORS)], round(xs[-1], 1),
                               round(ys[l][-1], 1)))
    _spread_labels(c.series, 14.0)
    c.last = [num(v, 3) for v in latest]
    return c


SUPERSCRIPT_DIGITS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _spread_labels(series: list[Series], gap: float) -> None:
    """Move the end labels apart vertically so that no two overlap."""
    order = sorted(series, key=lambda s: s.end_y)
    for a, b in itertools.pairwise(order):
        if b.end_y - a.end_y < gap:
            b.end_y = round(a.end_y + gap, 1)


def _epoch_label(e: float) -> str:
    if abs(e) >= 1e15:
        return f"{e:.3g}"
    e = int(e)
    return f"{e // 1000}k" if e >= 10_000 and e % 1000 == 0 else str(e)


def grid_svg(ch: Curve | NormChart) -> Markup:
    """The horizontal grid lines of a chart (loss curve or gradient norms)."""
    lines = "".join(f'<line x1="{ch.left}" x2="{ch.right}" y1="{t.pos}" y2="{t.pos}"/>'
                    for t in ch.yticks)
    return Markup(f'<g class="grid">{lines}</g>')


def epoch_axes_svg(ch: Curve | NormChart, title: str) -> Markup:
    """The axes, their ticks and labels, and the x-axis title (translated by the caller);
    written here rather than in a Jinja macro: they are redrawn with every Play frame."""
    b, left = ch.bottom, ch.left
    out = [f'<line x1="{left}" x2="{ch.right}" y1="{b}" y2="{b}"/>',
           f'<line x1="{left}" x2="{left}" y1="{ch.top}" y2="{b}"/>']
    out += [f'<line x1="{t.pos}" x2="{t.pos}" y1="{b}" y2="{b + 5}"/><text x="{t.pos}" '
            f'y="{b + 18}" text-anchor="middle">{escape(t.label)}</text>' for t in ch.xticks]
    out += [f'<text x="{left - 6}" y="{t.pos + 4}" text-anchor="end">{escape(t.label)}</text>'
            for t in ch.yticks]
    out.append(f'<text x="{(left + ch.right) / 2}" y="{ch.height - 4}" text-anchor="middle" '
               f'class="title">{escape(title)}</text>')
    return Markup("\n".join(out))


POINT = "{:.1f} {:.1f}".format


# A path's points in one %-formatting call ("%.1f" writes a float as "{:.1f}" does), the x
# positions formatted once per chart: the charts' paths were a tenth of a Play frame's time.
@functools.lru_cache(maxsize=128)
def _path_format(n: int) -> str:
    return "M" + "L".join(["%s %.1f"] * n)


@functools.lru_cache(maxsize=128)
def _tenths_format(n: int) -> str:
    return "L".join(["%.1f"] * n)  # no float is written with an "L"


def _tenths(values: list[float]) -> list[str]:
    return (_tenths_format(len(values)) % tuple(values)).split("L") if values else []


def _points_path(xs_text: list[str], ys: list[float]) -> str:
    """ "M x y L x y …" with one decimal, as POINT writes each point."""
    flat: list[object] = [None] * (2 * len(ys))
    flat[0::2], flat[1::2] = xs_text, ys
    return _path_format(len(ys)) % tuple(flat)


def _path(points: list[tuple[float, float]]) -> str:
    if not points:
        return ""
    return "M" + "L".join(POINT(x, y) for x, y in points)


