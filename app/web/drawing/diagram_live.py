"""Play's diagram drawn from the tick's numbers with a plan kept per layout.

A Play frame's diagram (diagram.build with ``live``, then diagram_svg's edges and neurons) built
19 neurons, the labelled edges and their boxes as objects every tick, to change colours, widths,
a few values and labels. Here the first frame of a layout is drawn that way, and what does not
change from tick to tick is kept from it: the neurons' skeleton (diagram_svg), where every edge
goes, the boxes labels must avoid. A tick then computes only the colours, widths, values and
labels, in one pass per kind, and writes the same SVG: tests/web/test_diagram_live.py compares
it with the full drawing over presets, signs, selections and the focus row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from markupsafe import Markup
from numpy.typing import NDArray

from app.web.drawing import diagram, diagram_svg, heatmaps
from app.web.drawing.diagram_model import Column, Diagram, label_text
from app.web.drawing.layout import MONO, Sizes, candidates
from app.web.infra.fmt import diverging_many, diverging_packed, fixed_many, num
from app.web.infra.skeleton import MARK, interleave


@dataclass
class LiveDiagram:
    """What diagram_live.html and a Play frame read of a diagram, drawn."""

    width: float
    height: float
    detailed: bool
    sizes: Sizes
    columns: list[Column]
    edges_html: Markup
    labels_svg: Markup
    nodes_html: Markup
    lecture: bool = False
    layer_table: None = None  # the inspector's table of the layer just computed: not live


@dataclass
class _Edge:
    """A labelled edge: its place in the weights (flattened, layer after layer), its layer,
    row and column, id and where it goes."""

    k: int
    l: int
    i: int
    j: int
    id: str
    head: str  # the path up to its colour
    ends: tuple[float, float, float, float]


@dataclass
class Plan:
    """A layout's fixed parts, taken from its first full drawing."""

    width: float
    height: float
    detailed_all: bool
    sizes: Sizes
    columns: list[Column]
    sizes_per_layer: tuple[int, ...]
    detailed: tuple[bool, ...]
    has_bias: tuple[bool, ...]  # per layer: biases drawn on its cards
    label_only: list[bool]  # per neuron: an input tile with its name (no dot, no fill slot)
    nodes_parts: list[str]  # the neurons' skeleton (diagram_svg._live_drawing)
    bare: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    bare_formats: list[str] = field(default_factory=list)  # per bare edge: its path to fill
    labelled: list[_Edge] = field(default_factory=list)
    placed: NDArray[np.float64] = field(  # the boxes labels avoid (n × 4)
        default_factory=lambda: np.zeros((0, 4)))
    spots: dict[tuple[tuple[int, int], ...], tuple[Any, ...]] = field(default_factory=dict)
    free: dict[tuple[int, int, int], list[tuple[float, float, float, float]]] = field(
        default_factory=dict)  # per labelled edge and label size: candidates clear of them


PLANS: heatmaps.LRU[Plan] = heatmaps.LRU(256)


def draw(state: Mapping[str, Any], row: int | None, sel: str | None,
         _: Callable[[str], str], maps: heatmaps.NeuronMaps | None, projector: bool
         ) -> LiveDiagram:
    """The Play frame's diagram of ``state`` (session_state with show_batch's values), as
    diagram.build(live=True) and diagram_svg draw it."""
    cfg = state["config"]
    sizes = tuple(cfg.layers)
    L = len(sizes) - 1
    sprites = list(maps.sprites) if maps is not None else []
    key = (sizes, bool(cfg.bias), maps is not None, len(sprites), projector,
           tuple(cfg.features), tuple(diagram._column_names(cfg, L, _)))
    plan = PLANS.get(key)
    if plan is None:
        plan = _plan(state, row, sel, _, maps, projector)
        PLANS.put(key, plan)
    return _draw(plan, state, row, sel, sprites)


def _reference(state: Mapping[str, Any], row: int | None, sel: str | None,
               _: Callable[[str], str], maps: heatmaps.NeuronMaps | None, projector: bool
               ) -> Diagram:
    """The full drawing (diagram.build), with the sprites as session_view sets them."""
    dg = diagram.build(state, row, sel, lambda s: "", _,
                       None if maps is None else maps.images, projector, live=True)
    if maps is not None:
        dg.sprites, dg.sprite_grid = maps.sprites, heatmaps.PLAY_GRID
    return dg


def reference(state: Mapping[str, Any], row: int | None, sel: str | None,
              _: Callable[[str], str], maps: heatmaps.NeuronMaps | None, projector: bool
              ) -> tuple[str, str, str]:
    """(edges, labels, neurons) as the full drawing writes them (for the plan and tests)."""
    return _written(_reference(state, row, sel, _, maps, projector))


def _written(dg: Diagram) -> tuple[str, str, str]:
    return (str(diagram_svg.edges_svg(dg)), str(dg.labels_svg),
            str(diagram_svg.nodes_svg(dg, live=True)))


def _plan(state: Mapping[str, Any], row: int | None, sel: str | None,
          _: Callable[[str], str], maps: heatmaps.NeuronMaps | None, projector: bool) -> Plan:
    dg = _reference(state, row, sel, _, maps, projector)
    fz = dg.sizes
    assert fz is not None
    cfg = state["config"]
    sizes = tuple(cfg.layers)
    L = len(sizes) - 1
    nodes = {n.id: n for n in dg.nodes}
    detailed = tuple(nodes[f"n-{l}-0"].detailed for l in range(L + 1))
    slots: list[str] = []
    parts = diagram_svg._live_drawing(dg, slots).split(MARK)
    plan = Plan(dg.width, dg.height, dg.detailed, fz, dg.columns, sizes, detailed,
                tuple(bool(cfg.bias) and l > 0 and detailed[l] for l in range(L + 1)),
                [bool(n.label) for n in dg.nodes], parts)
    bare: list[int] = []
    k = 0
    for l in range(1, L + 1):
        src = [nodes[f"n-{l - 1}-{i}"] for i in range(sizes[l - 1])]
        dst = [nodes[f"n-{l}-{j}"] for j in range(sizes[l])]
        labelled = sizes[l - 1] * sizes[l] <= diagram.EDGE_LABELS_MAX
        heads = diagram._path_heads(tuple((a.x + a.w, a.y + a.h / 2) for a in src),
                                    tuple((b.x, b.y + b.h / 2) for b in dst))
        for i, a in enumerate(src):
            for j, b in enumerate(dst):
                head = heads[i * len(dst) + j]
                if labelled:
                    plan.labelled.append(_Edge(k, l, i, j, f"w-{l}-{i}-{j}", head,
                                               (a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2)))
                else:
                    bare.append(k)
                    plan.bare_formats.append(head.replace("%", "%%")
                                             + '#%06x" stroke-width="%.2g"/>')
                k += 1
    plan.bare = np.array(bare, dtype=np.int64)
    plan.placed = np.array(diagram.obstacles(dg.nodes, dg.columns, fz, dg.title_h, dg.bias_h,
                                             dg.top), dtype=np.float64).reshape(-1, 4)
    drawn = _draw(plan, state, row, sel, list(dg.sprites))
    got = (str(drawn.edges_html), str(drawn.labels_svg), str(drawn.nodes_html))
    assert got == _written(dg), "diagram_live out of step with diagram.build"
    return plan


def _texts(rows: Any, row: int | None, n: int, signed: bool) -> list[str]:
    """A layer's values at the focus row as a card writes them (fixed digits)."""
    if rows is None or row is None:
        return ["—"] * n
    return fixed_many([float(v) for v in rows[row]], signed=signed)


def _draw(plan: Plan, state: Mapping[str, Any], row: int | None, sel: str | None,
          sprites: list[str]) -> LiveDiagram:
    layers = state["layers"]
    sizes, detailed = plan.sizes_per_layer, plan.detailed
    L = len(sizes) - 1

    # The neurons: each one's value (x, or a), coloured in one pass; the cards' lines. The
    # texts are our own formatted numbers (digits, signs, "—"): nothing to escape.
    X = state["batch"]["X"]
    rows: list[Sequence[float] | None] = [None if X is None or row is None else X[row]]
    rows += [None if lay["a"] is None or row is None else lay["a"][row] for lay in layers]
    flat = [np.nan if r is None else float(r[j])
            for r, n in zip(rows, sizes, strict=True) for j in range(n)]
    fills = diverging_many(np.array(flat, dtype=np.float64), 1.0, 0.0, 0.55)
    values: list[str] = list(sprites)
    k = 0
    for l in range(L + 1):
        n = sizes[l]
        if detailed[l]:
            lay = layers[l - 1] if l else None
            if lay is None:
                r = rows[0]
                lines = [[num(None if r is None else float(r[j]))] for j in range(n)]
            else:
                z, a, d = (_texts(lay["z"], row, n, False), _texts(lay["a"], row, n, False),
                           _texts(lay["delta"], row, n, True))
                b = lay["b"] if plan.has_bias[l] else None
                bt = fixed_many([float(v) for v in b], signed=True) if b is not None else []
                lines = [[z[j], a[j], d[j]] + ([" neg" if b[j] < 0 else "", "b " + bt[j]]
                                               if b is not None else []) for j in range(n)]
        for j in range(n):
            fill = fills[k]
            if detailed[l]:
                values.append(fill)
                values += lines[j]
            if not plan.label_only[k]:
                values.append(fill)
            k += 1
    nodes_html = Markup(interleave(plan.nodes_parts, values))

    # The edges: colours and widths in one pass; dashed when negative, in one group.
    Ws = [np.asarray(lay["W"], dtype=np.float64).ravel() for lay in layers]
    allW = np.concatenate(Ws) if Ws else np.zeros(0)
    wmax = (float(np.max(np.abs(allW))) if allW.size else 1.0) or 1.0
    colours = diverging_packed(allW, wmax, 0.35, 1.0)
    solid: list[str] = []
    dashed: list[str] = []
    if plan.bare.size:
        w = allW[plan.bare]
        widths = np.round(1.0 + 5.0 * np.minimum(np.abs(w) / wmax, 1.0), 2)
        cols = colours[plan.bare]
        neg = w < 0
        for pick, out in ((np.flatnonzero(~neg), solid), (np.flatnonzero(neg), dashed)):
            if pick.size:
                flat_args: list[Any] = [None] * (2 * pick.size)
                flat_args[0::2] = cols[pick].tolist()
                flat_args[1::2] = widths[pick].tolist()
                fmts = plan.bare_formats
                out.append("".join([fmts[i] for i in pick.tolist()]) % tuple(flat_args))
    labels = _labelled(plan, state, sel, allW, wmax, colours, solid, dashed)
    edges_html = Markup("".join(solid) + '<g stroke-dasharray="7 4">' + "".join(dashed)
                        + "</g>")
    return LiveDiagram(plan.width, plan.height, plan.detailed_all, plan.sizes, plan.columns,
                       edges_html, labels, nodes_html)


SPOTS_MAX = 1024  # label sizes remembered per layout
Box = tuple[float, float, float, float]


def _place(plan: Plan, size_key: tuple[tuple[int, int], ...]) -> tuple[Box | None, ...]:
    """layout.spots for the plan's labels of these sizes (longest line, lines): each label at
    its first candidate clear of the fixed boxes (kept per edge and size) and of the labels
    placed before it (the same comparisons, in the same order)."""
    found: list[Box | None] = []
    mine: list[Box] = []
    for k, (m, n) in enumerate(size_key):
        free = plan.free.get((k, m, n))
        if free is None:
            free = plan.free[(k, m, n)] = _clear_of_fixed(plan, plan.labelled[k], m, n)
        spot = next((b for b in free if not any(
            min(b[2], a[2]) - max(b[0], a[0]) > 0 and min(b[3], a[3]) - max(b[1], a[1]) > 0
            for a in mine)), None)
        found.append(spot)
        if spot is not None:
            mine.append(spot)
    return tuple(found)


def _clear_of_fixed(plan: Plan, e: _Edge, m: int, n: int) -> list[Box]:
    """The candidate boxes of a label of this size on edge ``e`` that overlap no fixed box, in
    the order they are tried (layout.spots' arithmetic)."""
    fz = plan.sizes
    w, h = fz.label * MONO * m + 8, fz.label * 1.25 * n + 4
    cand, free = candidates(plan.placed, *e.ends, w, h)
    return [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in cand[free]]


def _labelled(plan: Plan, state: Mapping[str, Any], sel: str | None, allW: NDArray[np.float64],
              wmax: float, colours: NDArray[np.int64], solid: list[str], dashed: list[str]
              ) -> Markup:
    """The labelled layers' edges (appended to solid/dashed, in diagram.build's drawing order)
    and their labels that fit."""
    if not plan.labelled:
        return Markup("")
    layers = state["layers"]
    L = len(plan.sizes_per_layer) - 1
    fz = plan.sizes
    grad_key = diagram.grad_key(state)
    edges = plan.labelled
    ws = allW[[e.k for e in edges]].tolist()
    w_texts = fixed_many(ws, signed=True)
    grads: list[float | None] = []
    for e in edges:
        gW = layers[e.l - 1]["grad_W"]
        grads.append(None if gW is None else float(gW[e.i][e.j]))
    g_texts = fixed_many([g for g in grads if g is not None], signed=True)
    labels: list[list[str]] = []
    gi = 0
    for wt, g in zip(w_texts, grads, strict=True):
        if g is None:
            labels.append(["w " + wt])
        else:
            labels.append(["w " + wt, grad_key + " " + g_texts[gi]])
            gi += 1
    # Where the labels go is a function of their sizes alone (the layout is the plan's).
    size_key = tuple((max(len(t) for t in lab), len(lab)) for lab in labels)
    found = plan.spots.get(size_key)
    if found is None:
        found = _place(plan, size_key)
        if len(plan.spots) >= SPOTS_MAX:
            plan.spots.clear()
        plan.spots[size_key] = found
    order = list(range(len(edges)))
    keys: list[tuple[bool, bool, bool]] = [(False, False, False)] * len(edges)
    flow, flow_layer = diagram.flow_of(state["cursor"], L)
    if sel is not None or flow:  # as build's stable sort: the chosen edges drawn last
        for k, e in enumerate(edges):
            keys[k] = (sel == e.id, diagram.highlighted(sel, e.l, e.i, e.j),
                       bool(flow) and flow_layer == e.l)
        order.sort(key=keys.__getitem__)
    out = []
    for k in order:
        e, wv, spot = edges[k], ws[k], found[k]
        width = round(1.0 + 5.0 * min(abs(wv) / wmax, 1.0), 2)
        (dashed if wv < 0 else solid).append(
            f'{e.head}#{int(colours[e.k]):06x}" stroke-width="{width:.2g}"/>')
        if spot is not None:
            lx = round((spot[0] + spot[2]) / 2, 1)
            ly = round(spot[1] + fz.label + 1, 1)
            out.append(label_text(lx, ly, labels[k], keys[k][0], fz.label))
    return Markup("\n".join(out))
