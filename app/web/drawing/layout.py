"""Where the diagram's parts go: font sizes and the box to fit (normal and projector), the
columns' and cards' geometry for an architecture, and the search for a free spot for each edge
label. Pure numbers, remembered per layout: Play redraws the same layout every tick."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DOT_R = 9
HEAT = 40  # px: a neuron's heatmap inside its card


@dataclass(frozen=True)
class Sizes:
    """Font sizes (CSS px, drawn at scale 1) and the box the diagram should fit."""

    value: float
    key: float
    title: float
    label: float
    col: float
    sub: float
    max_h: float
    max_w: float
    tile: float


# At 1280 px the diagram panel is about 700 px wide; in projector mode it takes two thirds of
# 1280 × 720 beside the inspector, below the toolbar.
NORMAL = Sizes(14, 13, 12, 12, 14, 12, 700, 690, 40)
PROJECTOR = Sizes(18, 18, 18, 18, 19, 18, 356, 780, 36)
MONO = 0.62  # advance of a monospace glyph per px of font size (with a margin)
SANS = 0.6


@dataclass(frozen=True)
class Geometry:
    """Where everything goes: a function of the architecture, the labels' languages and the
    mode only, so it is computed once per layout (Play redraws the same layout every tick)."""

    fz: Sizes
    line_h: int
    card_w: int
    card_h: tuple[int, ...]
    title_h: int
    bias_h: int
    tile: float
    gap: int
    detailed: tuple[bool, ...]
    top: int
    xs: tuple[float, ...]
    width: int
    height: int
    sizes: tuple[int, ...]
    bias_on: bool

    def slot(self, l: int, card: bool) -> float:
        """Height a neuron of layer l takes in its column: a card (title, card, bias) or a
        tile, and the gap after it."""
        if not card:
            return self.tile + self.gap
        return (self.title_h + self.card_h[l]
                + (self.bias_h + 3 if self.bias_on and l > 0 else 0) + self.gap)

    def centre_y(self, l: int, j: int) -> float:
        """The vertical centre of neuron j of layer l (its column centred in the height)."""
        card = self.detailed[l]
        sl = self.slot(l, card)
        col_h = self.sizes[l] * sl
        off = (self.title_h / 2 if card else 0) - (
            (self.bias_h + 3) / 2 if card and self.bias_on and l > 0 else 0)
        return (self.top + (self.height - self.top - col_h) / 2 + sl * (j + 0.5) + off
                - self.gap / 2 + 3)


@functools.lru_cache(maxsize=256)
def geometry(sizes: tuple[int, ...], bias_on: bool, heat_on: bool, projector: bool,
             col_names: tuple[tuple[str, str], ...]) -> Geometry:
    L = len(sizes) - 1
    fz = PROJECTOR if projector else NORMAL
    line_h = round(fz.value * 1.3)
    pad = 6
    heat_w = HEAT + 6 if heat_on else 0
    card_w = round(heat_w + 10 + fz.key * MONO * 1.3 + 8 + fz.value * MONO * 9 + 8)
    card_h = [pad * 2 + line_h * (1 if l == 0 else 3) for l in range(L + 1)]
    if heat_on:
        card_h = [max(h, HEAT + 10) for h in card_h]
    title_h = round(fz.title * 1.35)
    bias_h = round(fz.label * 1.5)
    tile = fz.tile if heat_on else DOT_R * 2
    gap = 8

    def slot(l: int, card: bool) -> float:
        if not card:
            return tile + gap
        return title_h + card_h[l] + (bias_h + 3 if bias_on and l > 0 else 0) + gap

    detailed = [True] * (L + 1)
    top = round(fz.col * 1.3 + fz.sub * 1.3 + 8)
    # Deep networks on a projector: narrower gaps between the columns of tiles.
    min_gap = (90 if L < 4 else 64) if projector else 80

    def col_w(l: int) -> float:
        return card_w if detailed[l] else tile

    def spacing(l: int) -> float:
        """Centre-to-centre distance of columns l and l + 1: room for the edges and titles."""
        words = max(len(t) for t in col_names[l] + col_names[l + 1])
        need = words * fz.col * SANS + 12
        return max((col_w(l) + col_w(l + 1)) / 2 + min_gap, need)

    def extent() -> tuple[float, float]:
        h = max(sizes[l] * slot(l, detailed[l]) for l in range(L + 1)) + top + 6
        ends = [max(col_w(l) / 2 + 12, max(len(t) for t in col_names[l]) * fz.col * SANS / 2
                    + 4) for l in (0, L)]
        w = sum(spacing(l) for l in range(L)) + sum(ends)
        return w, h

    # Cards where they fit, tiles (a heatmap or a dot; values on hover, focus, selection)
    # for the largest layers otherwise.
    while True:
        w, h = extent()
        cands = [l for l in range(L + 1) if detailed[l]]
        if (w <= fz.max_w and h <= fz.max_h) or not cands:
            break
        detailed[max(cands, key=lambda l: (sizes[l] * slot(l, True), l))] = False
    width, height = extent()
    if height > fz.max_h:  # tiles everywhere and still too tall: smaller tiles
        n_max = max(sizes[l] for l in range(L + 1) if not detailed[l])
        tile = max(14.0, min(tile, (fz.max_h - top - 6) / n_max - gap))
        width, height = extent()
    # Spread the columns over the available width (up to 240 px between card edges).
    free = max(0.0, fz.max_w - width)
    extra = min(free / max(L, 1), 140.0)

    def half_title(l: int) -> float:
        return max(len(t) for t in col_names[l]) * fz.col * SANS / 2 + 4

    xs = [max(12.0 + col_w(0) / 2, half_title(0))]
    for l in range(L):
        xs.append(xs[-1] + spacing(l) + extra)
    width = max(xs[-1] + col_w(L) / 2 + 12, xs[-1] + half_title(L))
    return Geometry(fz, line_h, card_w, tuple(card_h), title_h, bias_h, tile, gap,
                    tuple(detailed), top, tuple(xs), round(width), round(height), sizes,
                    bias_on)


Box = tuple[float, float, float, float]
CANDIDATES = (0.5, 0.38, 0.62, 0.28, 0.72, 0.44, 0.56, 0.33, 0.67, 0.22, 0.78)
CANDIDATE_T = np.array(CANDIDATES)


def candidates(boxes: NDArray[np.float64], x1: float, y1: float, x2: float, y2: float,
               w: float, h: float) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A w × h label's candidate boxes along the edge (x1, y1)–(x2, y2), in the order they are
    tried, and which overlap none of ``boxes`` (n × 4; overlap: a positive width and height in
    common)."""
    cx = x1 + (x2 - x1) * CANDIDATE_T
    cy = y1 + (y2 - y1) * CANDIDATE_T
    cand = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    ow = (np.minimum(cand[:, None, 2], boxes[None, :, 2])
          - np.maximum(cand[:, None, 0], boxes[None, :, 0]))
    oh = (np.minimum(cand[:, None, 3], boxes[None, :, 3])
          - np.maximum(cand[:, None, 1], boxes[None, :, 1]))
    free = np.logical_not(((ow > 0) & (oh > 0)).any(axis=1))
    return cand, np.asarray(free, dtype=np.bool_)


@functools.lru_cache(maxsize=1024)
def spots(static: tuple[Box, ...], wanted: tuple[tuple[float, ...], ...]
           ) -> tuple[Box | None, ...]:
    """The greedy placement of place_labels, a function of the fixed boxes and each wanted
    label's edge and size only: while Play runs it repeats for tick after tick, so it is
    remembered. Every candidate is tested against every box at once (the same arithmetic as
    _label_box; overlap: a positive width and height in common)."""
    boxes = np.array(static, dtype=np.float64).reshape(-1, 4)
    out: list[Box | None] = []
    for x1, y1, x2, y2, w, h in wanted:
        cand, free = candidates(boxes, x1, y1, x2, y2, w, h)
        if not free.any():
            out.append(None)
            continue
        k = int(np.argmax(free))
        out.append((float(cand[k, 0]), float(cand[k, 1]), float(cand[k, 2]), float(cand[k, 3])))
        boxes = np.vstack([boxes, cand[k]])
    return tuple(out)
