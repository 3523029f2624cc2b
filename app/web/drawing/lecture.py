"""The lecture layout of the diagram (projector mode, lesson-sized networks): every number at
once, as text, at projector size.

Each neuron is a card with z, a and δ of the focus sample; left of it sits its fan-in block,
one row per incoming weight (w, and ∂ = Σ∂L/∂w over the batch once its layer's backward ran)
and one for its bias (b, ∂L/∂b). Each edge ends at its own row, so a weight's numbers sit where
its line arrives and no line runs through a digit. The layout is a function of the shape only
(values have a fixed width), so stepping and Play never move it. It is used when it fits the
projector's box at full size (``fits``); other networks keep the compact diagram."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.nn import features as feats
from app.web.drawing.diagram import _column_names, _sub, _sup, flow_of, grad_key, highlighted
from app.web.infra.fmt import diverging, diverging_many
from app.web.infra.fmt import fixed as _fixed

FS = 18.0  # px: every text of the layout, at scale 1 on a 1280 × 720 projector
LH = 22.0  # line height
CH = FS * 0.61  # advance of a monospace glyph (0.6 em in DejaVu and Liberation Mono)
VAL = 9  # characters a value takes at most: "−0.004321", "+1.234e−5" (fmt.fixed's width)
PAD = 6.0
CARD_W = round(PAD * 2 + CH * (1.5 + VAL))  # key, half a space, value
BLOCK_W = round(PAD * 2 + CH * (2.5 + VAL))  # "Σ∂", half a space, value
NAME_H = 20.0  # the neuron's name above its card
GAP = 6.0  # between two neurons of a column
EDGE_GAP = 40.0  # between a column and the next one's blocks: room for the edges
ATTACH = 3.0  # between a block and its card
TITLE_H = 28.0  # the column titles
MARGIN = 6.0
# The box the layout must fit at scale 1: the diagram panel beside the inspector on a
# 1280 × 720 projector, below the toolbar (see app.css, html.projector .grid.lecture).
MAX_W = 790.0
MAX_H = 486.0
MAX_NEURONS = 4  # the lesson-sized networks: up to 4 neurons a layer ...
MAX_WEIGHT_LAYERS = 3  # ... and 3 layers of weights


@dataclass
class Value:
    """One number on the diagram: its key, its text and what it is (``ref``, e.g. "z-1-0",
    "w-1-0-2", "g-1-0-2" for ∂L/∂w, "gb-1-0" for ∂L/∂b), for tests and for predict mode."""

    key: str
    text: str
    ref: str
    x: float
    y: float
    cls: str = ""


@dataclass
class Item:
    """A clickable part: a neuron's card, a weight's row or a bias's row."""

    id: str
    kind: str  # node / edge / bias
    x: float
    y: float
    w: float
    h: float
    href: str
    aria: str
    selected: bool
    col: int
    row: int
    fill: str = "#ffffff"
    values: list[Value] = field(default_factory=list)
    name: str = ""
    computed: bool = False
    negative: bool = False
    flow: str = ""
    changed: bool = False  # the last update changed it (old → new shown)


@dataclass
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    color: str
    width: float
    negative: bool
    flow: str = ""
    highlight: bool = False


@dataclass
class Title:
    x: float
    text: str


@dataclass
class Lecture:
    width: float
    height: float
    items: list[Item]
    lines: list[Line]
    titles: list[Title]
    tab_stop: str
    flow: str
    flow_layer: int | None
    has_sel: bool
    lecture: bool = True
    fs: float = FS
    lh: float = LH
    grad_key: str = "∂"


@dataclass(frozen=True)
class Geometry:
    width: float
    height: float
    x_card: tuple[float, ...]  # the left edge of each column's cards
    tops: tuple[tuple[float, ...], ...]  # the top of each neuron's slot
    card_h: tuple[float, ...]
    block_h: tuple[float, ...]
    slot: tuple[float, ...]

    def centre(self, l: int, j: int) -> float:
        """The vertical centre of neuron j's card: below its name, in the middle of the rest
        of its slot."""
        return self.tops[l][j] + NAME_H + (self.slot[l] - NAME_H) / 2


def rows_of(sizes: tuple[int, ...], bias: bool, l: int) -> int:
    """Rows of a fan-in block of layer l: one per input, one for the bias."""
    return sizes[l - 1] + (1 if bias else 0)


@functools.lru_cache(maxsize=64)
def geometry(sizes: tuple[int, ...], bias: bool) -> Geometry:
    L = len(sizes) - 1
    card_h = [PAD + LH * (1 if l == 0 else 3) + PAD / 2 for l in range(L + 1)]
    block_h = [0.0] + [PAD / 2 + 2 * LH * rows_of(sizes, bias, l) + PAD / 2
                       for l in range(1, L + 1)]
    slot = [max(NAME_H + card_h[l], block_h[l]) for l in range(L + 1)]
    col_h = [sizes[l] * slot[l] + (sizes[l] - 1) * GAP for l in range(L + 1)]
    height = TITLE_H + max(col_h) + MARGIN
    x_card = [MARGIN]
    for _l in range(1, L + 1):
        x_card.append(x_card[-1] + CARD_W + EDGE_GAP + BLOCK_W + ATTACH)
    width = x_card[-1] + CARD_W + MARGIN
    tops = []
    for l in range(L + 1):
        y0 = TITLE_H + (height - TITLE_H - MARGIN - col_h[l]) / 2
        tops.append(tuple(y0 + j * (slot[l] + GAP) for j in range(sizes[l])))
    return Geometry(width, height, tuple(x_card), tuple(tops), tuple(card_h), tuple(block_h),
                    tuple(slot))


def fits(sizes: tuple[int, ...], bias: bool) -> bool:
    """A lesson-sized network whose every number fits the projector's box at full size."""
    if max(sizes) > MAX_NEURONS or not 1 <= len(sizes) - 1 <= MAX_WEIGHT_LAYERS:
        return False
    g = geometry(sizes, bias)
    return g.width <= MAX_W and g.height <= MAX_H


def fixed(v: float | None, signed: bool = False) -> str:
    return _fixed(v, signed=signed, width=VAL)


def text_w(text: str) -> float:
    """Roughly how wide a sans title is drawn: ~0.6 em a glyph, 1 em for Hangul and CJK."""
    return sum(FS if ord(c) >= 0x1100 else FS * 0.6 for c in text)


def _cell(rows: Any, row: int | None, j: int) -> float | None:
    if rows is None or row is None:
        return None
    return float(rows[row][j])


def build(state: Mapping[str, Any], row: int | None, sel: str | None,
          href: Callable[[str], str], _: Callable[[str], str],
          old: Mapping[tuple[Any, ...], float] | None = None) -> Lecture:
    """``old``: every weight and bias before the update that was just applied (old → new)."""
    cfg = state["config"]
    sizes = tuple(int(n) for n in cfg.layers)
    L = len(sizes) - 1
    bias = bool(cfg.bias)
    g = geometry(sizes, bias)
    layers = state["layers"]
    flow, flow_layer = flow_of(state["cursor"], L)
    g_key = grad_key(state)
    symbols = [feats.SYMBOLS.get(f, f) for f in cfg.features]
    if len(symbols) != sizes[0]:
        symbols = [f"x{_sub(j + 1)}" for j in range(sizes[0])]
    col_names = _column_names(cfg, L, _)
    Ws = [np.asarray(lay["W"], dtype=np.float64) for lay in layers]
    wmax = max((float(np.max(np.abs(W))) for W in Ws if W.size), default=1.0) or 1.0
    old = old or {}
    mazur = cfg.preset == "worked-example"  # Matt Mazur's names on the weights and biases

    items: list[Item] = []
    lines: list[Line] = []
    titles: list[Title] = []
    vx = CARD_W - PAD  # values are right-aligned in their card or block
    for l in range(L + 1):
        left = g.x_card[l] - (BLOCK_W + ATTACH if l else 0)
        title, sub = col_names[l]
        # With its subtitle when that fits above the column (and half of each edge gap).
        span = g.x_card[l] + CARD_W - left + EDGE_GAP - 8
        text = f"{title} · {sub}" if text_w(f"{title} · {sub}") <= span else title
        half = text_w(text) / 2 + 2
        centre = (left + g.x_card[l] + CARD_W) / 2
        titles.append(Title(round(min(max(centre, half), g.width - half), 1), text))
        for j in range(sizes[l]):
            top = g.tops[l][j]
            cy = g.centre(l, j)
            card_y = cy - g.card_h[l] / 2
            nid = f"n-{l}-{j}"
            x0 = g.x_card[l]
            if l == 0:
                v = _cell(state["batch"]["X"], row, j)
                name = symbols[j]
                vals = [Value("x", fixed(v), f"x-0-{j}", x0 + vx, card_y + PAD + LH * 0.78)]
                computed, fill_v = v is not None, v
            else:
                lay = layers[l - 1]
                z, a, d = (_cell(lay[k], row, j) for k in ("z", "a", "delta"))
                name = f"{'ŷ' if l == L else 'h'}{_sub(j + 1)}" + (
                    "" if l == L else f"⁽{_sup(l)}⁾")
                vals = [Value(k, fixed(v, signed=k == "δ"), f"{r}-{l}-{j}", x0 + vx,
                              card_y + PAD + LH * (0.78 + n))
                        for n, (k, r, v) in enumerate((("z", "z", z), ("a", "a", a),
                                                       ("δ", "d", d)))]
                computed, fill_v = a is not None, a
            visible = " ".join([name, *(f"{v.key} {v.text}" for v in vals)])
            aria = _("{visible} ({layer}, neuron {j})").format(visible=visible, layer=title,
                                                                j=j + 1)
            node = Item(nid, "node", x0, card_y, CARD_W, g.card_h[l], href(nid), aria,
                        sel == nid, 2 * l, 2 * j, diverging(fill_v, 1.0, 0.0, 0.45), vals,
                        name, computed)
            node.flow = (flow or "") if flow_layer == l else ""
            items.append(node)
            if l == 0:
                continue
            # The fan-in block: row i = weight from neuron i of layer l - 1, then the bias.
            lay = layers[l - 1]
            bx = x0 - ATTACH - BLOCK_W
            # Beside the card, within the slot (a tall block starts at the slot's top).
            by = max(top, min(cy - g.block_h[l] / 2, top + g.slot[l] - g.block_h[l]))
            n_rows = rows_of(sizes, bias, l)
            colours = diverging_many(Ws[l - 1][:, j], wmax, 0.35, 1.0)
            for i in range(n_rows):
                okey: tuple[str | int, ...]
                ry = by + PAD / 2 + 2 * LH * i
                is_bias = i == sizes[l - 1]
                if is_bias:
                    bval = float(lay["b"][j])
                    gval = None if lay["grad_b"] is None else float(lay["grad_b"][j])
                    iid, kind, key, ref = f"b-{l}-{j}", "bias", "b", f"b-{l}-{j}"
                    if mazur:  # his b1 (hidden) and b2 (output), one per layer
                        key = f"b{_sub(l)}"
                    gref, okey = f"gb-{l}-{j}", ("b", l, j)
                    wv = bval
                    label = _("bias b{j} of layer {l}").format(j=j + 1, l=l)
                    col, rw = 2 * l, 2 * j + 1
                else:
                    wv = float(lay["W"][i][j])
                    gval = None if lay["grad_W"] is None else float(lay["grad_W"][i][j])
                    iid, kind, key, ref = f"w-{l}-{i}-{j}", "edge", "w", f"w-{l}-{i}-{j}"
                    if mazur:  # his w1 … w8
                        key = f"w{_sub(4 * (l - 1) + 2 * j + i + 1)}"
                    gref, okey = f"g-{l}-{i}-{j}", ("W", l, i, j)
                    label = _("weight w{i},{j} of layer {l}").format(i=i + 1, j=j + 1, l=l)
                    col, rw = 2 * l - 1, i * sizes[l] + j
                was = old.get(okey)
                changed = was is not None and was != wv
                second = (Value("←", fixed(was, signed=True), f"old-{ref}",
                                bx + BLOCK_W - PAD, ry + LH * 1.78, "old") if changed else
                          Value(g_key if kind == "edge" else "∂",
                                fixed(gval, signed=True), gref, bx + BLOCK_W - PAD,
                                ry + LH * 1.78, "g"))
                first = Value(key, fixed(wv, signed=True), ref, bx + BLOCK_W - PAD,
                              ry + LH * 0.78, "w")
                # The name starts with the row's visible text (WCAG 2.5.3), then says what.
                aria = "{visible} ({what})".format(
                    visible=f"{first.key} {first.text} {second.key} {second.text}", what=label)
                it = Item(iid, kind, bx, ry, BLOCK_W, 2 * LH, href(iid), aria, sel == iid,
                          col, rw, "#ffffff", [first, second],
                          computed=gval is not None, negative=wv < 0,
                          flow=(flow or "") if flow_layer == l else "", changed=changed)
                items.append(it)
                if is_bias:
                    continue
                src = f"n-{l - 1}-{i}"
                s_cy = g.centre(l - 1, i)
                hl = highlighted(sel, l, i, j) or sel == iid
                lines.append(Line(g.x_card[l - 1] + CARD_W, s_cy, bx, ry + LH, colours[i],
                                  round(1.5 + 4.5 * min(abs(wv) / wmax, 1.0), 2), wv < 0,
                                  it.flow, hl and src is not None))
    ids = {it.id for it in items}
    return Lecture(g.width, g.height, items, lines, titles,
                   sel if sel in ids else "n-0-0", flow or "", flow_layer,
                   sel is not None and sel in ids, grad_key=g_key)
