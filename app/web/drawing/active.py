"""The layer the last step computed, in a compact diagram (bigger nets, #19): its neurons'
values as text on their tiles, and the weights into it as a small table for the inspector
(edge labels do not fit there). Pure data; the templates draw it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.web.drawing.layout import MONO, Sizes
from app.web.infra.fmt import fixed, sub, sup

TABLE_MAX_COLS = 2  # the weights table's narrow side (two numbers per weight when computed)
# What the inspector holds beside a 1280 × 720 projector's diagram at 18 px: characters across
# (monospace, with the cells' padding) and lines down.
TABLE_MAX_CHARS = 34
TABLE_MAX_LINES = 16


def _cell(rows: Any, row: int | None, j: int) -> float | None:
    if rows is None or row is None:
        return None
    return float(rows[row][j])


def active_values(nodes: Sequence[Any], lay: Mapping[str, Any], row: int | None, l: int,
                  flow: str, fz: Sizes, room: float, right: float) -> None:
    """After forward l: z and a of each neuron of layer l on its tile; after backward l: δ.
    One line centred on the tile over an opaque box (the box also keeps edge labels away);
    one line per value when one line is wider than 2 × ``room`` (the free half-width between
    the neighbouring columns' tiles: deep nets). ``right``: the diagram's right edge (the
    output column's boxes move left to stay inside)."""
    keys = (("z", "z", "z"), ("a", "a", "a")) if flow == "forward" else (("δ", "delta", "d"),)
    cw = fz.value * MONO
    for n in nodes:
        if not n.id.startswith(f"n-{l}-"):
            continue
        j = int(n.id.rsplit("-", 1)[1])
        parts = [(k, ref, fixed(_cell(lay[src], row, j), signed=True))
                 for k, src, ref in keys]
        one = sum((2 + len(v)) * cw for _k, _r, v in parts) + cw * (len(parts) - 1) + 8
        stacked = one / 2 > room
        width = max((2 + len(v)) * cw for _k, _r, v in parts) + 8 if stacked else one
        lh = round(fz.value * 1.2, 1)
        cx, cy = n.x + n.w / 2, n.y + n.h / 2
        cx = min(cx, right - 2 - width / 2)
        x0 = cx - width / 2 + 4
        x, y = x0, cy + fz.value * 0.35 - (lh * (len(parts) - 1) / 2 if stacked else 0)
        out = []
        for k, ref, v in parts:
            out.append((k, f"{ref}-{l}-{j}", v, round(x, 1), round(x + 2 * cw, 1), round(y, 1)))
            if stacked:
                y += lh
            else:
                x += (3 + len(v)) * cw
        n.active = out
        h = fz.value * 1.3 + (lh * (len(parts) - 1) if stacked else 0)
        n.abox = (cx - width / 2, cy - h / 2, cx + width / 2, cy + h / 2)


@dataclass
class LayerTable:
    """The weights into layer l (and its biases): one row per neuron along the longer side,
    the other side across; w and, once backward l ran, ∂L/∂w (Σ over the batch)."""

    layer: int
    flow: str
    grad_key: str
    heads: list[str]
    split: bool = False  # one column of weights: w and ∂L/∂w side by side, not stacked
    rows: list[tuple[str, list[tuple[str, str, str, str]]]] = field(default_factory=list)
    # (row name, [(w ref, w text, ∂ ref, ∂ text), ...])


def layer_table(lay: Mapping[str, Any], l: int, flow: str, symbols: Sequence[str], L: int,
                grad_key: str) -> LayerTable | None:
    """None when both sides are wider than TABLE_MAX_COLS (e.g. 8 × 8: select a neuron)."""
    W, gW, b, gb = lay["W"], lay["grad_W"], lay["b"], lay["grad_b"]
    n_prev, n = len(W), len(W[0])
    src = list(symbols) if l == 1 else [f"h{sub(i + 1)}⁽{sup(l - 1)}⁾" for i in range(n_prev)]
    dst = [f"{'ŷ' if l == L else 'h'}{sub(j + 1)}" + ("" if l == L else f"⁽{sup(l)}⁾")
           for j in range(n)]

    def cell(i: int, j: int) -> tuple[str, str, str, str]:
        g = None if gW is None else float(gW[i][j])
        return (f"w-{l}-{i}-{j}", fixed(float(W[i][j]), signed=True),
                f"g-{l}-{i}-{j}", "" if g is None else fixed(g, signed=True))

    def bias(j: int) -> tuple[str, str, str, str]:
        g = None if gb is None else float(gb[j])
        return (f"b-{l}-{j}", fixed(float(b[j]), signed=True),
                f"gb-{l}-{j}", "" if g is None else fixed(g, signed=True))

    t = LayerTable(l, flow, grad_key, [])
    if n_prev <= TABLE_MAX_COLS:  # a row per neuron of layer l, a column per input
        t.heads = src + (["b"] if b is not None else [])
        for j in range(n):
            cells = [cell(i, j) for i in range(n_prev)] + ([bias(j)] if b is not None else [])
            t.rows.append((dst[j], cells))
    elif n <= TABLE_MAX_COLS:  # a row per input, a column per neuron of layer l
        t.heads = dst
        t.split = n == 1 and gW is not None
        for i in range(n_prev):
            t.rows.append((src[i], [cell(i, j) for j in range(n)]))
        if b is not None:
            t.rows.append(("b", [bias(j) for j in range(n)]))
    else:
        return None
    cols = list(zip(*(cells for _name, cells in t.rows), strict=True))
    lens = [(max(len(c[1]) for c in col), max(len(c[3]) for c in col)) for col in cols]
    across = 5 + sum((w + g + 3) if t.split else (max(w, g) + 1.5) for w, g in lens)
    down = len(t.rows) * (2 if gW is not None and not t.split else 1)
    return t if across <= TABLE_MAX_CHARS and down <= TABLE_MAX_LINES else None
