"""The input plane: the network's output over it as a small image (the output heatmap) and the
samples as SVG marks, on the same square as the data panel's plot."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from markupsafe import Markup
from numpy.typing import NDArray

from app.nn.activations import ACTIVATIONS
from app.web.drawing.axes import Tick, nice_ticks
from app.web.drawing.png import png_data_uri, png_palette_uri, shade_index
from app.web.infra.fmt import diverging_rgb, num

POS_DARK = (8, 48, 107)  # class 1: ColorBrewer Blues' darkest
NEG_DARK = (127, 39, 4)  # class 0: Oranges' darkest
GRID = 40
PLAY_GRID = 24  # while playing: a third of the grid points, redrawn every tick


@dataclass
class Heatmap:
    image: str
    size: int
    points: Markup  # the SVG marks, built here: numbers and our own colours only
    count: int
    lo: float
    hi: float
    domain: tuple[float, float]
    ticks: list[Tick]


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def plot_domain(X: NDArray[np.float64], X_test: NDArray[np.float64] | None
                ) -> tuple[float, float]:
    """[-6, 6] for the generated sets, the data's box ± 0.5 for the truth tables."""
    allx = X if X_test is None else np.vstack([X, X_test])
    if allx.size == 0 or np.max(np.abs(allx)) > 2:
        return -6.0, 6.0
    return float(allx.min()) - 0.5, float(allx.max()) + 0.5


def value_range(output_activation: str, task: str, Y: NDArray[np.float64]
                ) -> tuple[float, float]:
    """The output plot's colour scale: 0 … 1 for regression and for an output bounded there,
    the output activation's own bounds, else the targets' range with 0 and 1."""
    if task == "regression":
        return 0.0, 1.0
    bounds = ACTIVATIONS[output_activation].bounds
    if bounds is not None:
        return bounds
    return float(min(Y.min(), 0.0)), float(max(Y.max(), 1.0))


def plot_values(predict: Any, domain: tuple[float, float], grid: int = GRID
                ) -> NDArray[np.float64]:
    """The output (class 1's probability for two outputs) over the grid × grid plane."""
    out = predict(plane_points(domain, grid))
    value = out[:, 1] if out.shape[1] == 2 else out[:, 0]
    return np.asarray(value, dtype=np.float64).reshape(grid, grid)


@functools.lru_cache(maxsize=64)
def plane_points(domain: tuple[float, float], grid: int) -> NDArray[np.float64]:
    """The grid × grid points, row by row from the top: the same for every tick (read-only:
    shared)."""
    g = np.linspace(domain[0], domain[1], grid)
    gx, gy = np.meshgrid(g, g[::-1])
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    points.setflags(write=False)
    return points


@functools.lru_cache(maxsize=64)
def _ticks(lo_d: float, hi_d: float, size: int) -> tuple[tuple[float, str], ...]:
    scale = size / (hi_d - lo_d)
    return tuple((round((v - lo_d) * scale, 1), num(v, 3)) for v in nice_ticks(lo_d, hi_d, 4))


def heatmap(predict: Any, X: NDArray[np.float64], Y: NDArray[np.float64],
            X_test: NDArray[np.float64] | None, Y_test: NDArray[np.float64] | None,
            output_activation: str, task: str, size: int = 300, live: bool = False) -> Heatmap:
    """The network's output over the input plane ([-6, 6]², or the data's box for truth
    tables) with the training (filled) and test (hollow) points. ``live`` (Play frames): the
    image in SHADES colours and no marks (the page keeps them as a separate, cached image)."""
    lo_d, hi_d = domain = plot_domain(X, X_test)
    value = plot_values(predict, domain, PLAY_GRID if live else GRID)
    lo, hi = value_range(output_activation, task, Y)
    if live:
        image = png_palette_uri(shade_index(value, lo, (lo + hi) / 2, hi))
        points, count = Markup(""), 0
    else:
        image = png_data_uri(diverging_rgb(value, lo, (lo + hi) / 2, hi))
        points, count = marks(X, Y, X_test, Y_test, task, domain, (lo, hi), size)
    ticks = [Tick(pos, label) for pos, label in _ticks(lo_d, hi_d, size)]
    return Heatmap(image, size, points, count, lo, hi, domain, ticks)


def marks(X: NDArray[np.float64], Y: NDArray[np.float64], X_test: NDArray[np.float64] | None,
          Y_test: NDArray[np.float64] | None, task: str, domain: tuple[float, float],
          value_lo_hi: tuple[float, float], size: int = 300) -> tuple[Markup, int]:
    """The samples as SVG marks over the plot: numbers and our own colours only."""
    lo_d, hi_d = domain
    lo, hi = value_lo_hi
    scale = size / (hi_d - lo_d)
    out: list[str] = []
    for data, targets, test in ((X, Y, False), (X_test, Y_test, True)):
        if data is None or targets is None:
            continue
        px = np.round((data[:, 0] - lo_d) * scale, 1)
        py = np.round((hi_d - data[:, 1]) * scale, 1)
        t = targets[:, 1] if targets.shape[1] == 2 else targets[:, 0]
        if task == "classification":
            # Darker than the background's own blue and orange, with a white outline, so a
            # point never vanishes into the region of its class.
            fills = np.where(t > 0.5, _hex(POS_DARK), _hex(NEG_DARK))
        else:
            rgb = diverging_rgb(t, lo, (lo + hi) / 2, hi)
            fills = np.array([_hex((int(r), int(g), int(b))) for r, g, b in rgb])
        cls = "pt test" if test else "pt"
        for x, y, f, pos in zip(px.tolist(), py.tolist(), fills.tolist(), (t > 0.5).tolist(),
                                strict=True):
            if test:
                paint = f'fill="#fff" stroke="{f}"'
            else:
                paint = f'fill="{f}" stroke="{"#fff" if task == "classification" else "#111"}"'
            if task == "classification" and not pos:  # class 0: a square
                out.append(f'<rect class="{cls}" x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" '
                           f'height="8" {paint}/>')
            else:
                out.append(f'<circle class="{cls}" cx="{x}" cy="{y}" r="4.4" {paint}/>')
    return Markup("\n".join(out)), len(out)
