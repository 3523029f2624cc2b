"""The layer diagram as data for an inline SVG: node cards with z, a, δ of the focus sample,
edges coloured and sized by weight (dashed when negative) with ∂L/∂w once computed, biases.
Where things go (sizes, columns, free spots for labels) is app/web/drawing/layout.py."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from app.nn import features as feats
from app.sessions.normalized import NormalizedConfig
from app.web.drawing.active import active_values, layer_table
from app.web.drawing.diagram_model import Bias, Clickable, Column, Diagram, Edge, Node, clickable
from app.web.drawing.layout import CANDIDATES, MONO, SANS, Box, Sizes, geometry, spots
from app.web.infra.fmt import diverging_many, fixed, num, signed, sub, sup
from app.web.infra.forms import option_label

# The diagram's parts (Node, Edge, Diagram, …) are in app/web/drawing/diagram_model.py; importable
# from here as before. lecture.py reads the subscript helpers under their old names.
__all__ = ["Bias", "Clickable", "Column", "Diagram", "Edge", "Node", "build", "clickable",
           "flow_of", "place_labels"]
_sub, _sup = sub, sup

EDGE_LABELS_MAX = 12  # n_{l-1} × n_l up to this shows weight labels on the edges


def _cell(rows: Any, row: int | None, j: int) -> float | None:
    if rows is None or row is None:
        return None
    return float(rows[row][j])


def grad_key(state: Mapping[str, Any]) -> str:
    """An edge gradient's name: the batch's sum when the batch has more than one sample."""
    return "Σ∂" if int(state["batch"]["size"]) > 1 else "∂"


def highlighted(sel: str | None, l: int, i: int, j: int) -> bool:
    """Whether weight w_ij of layer l is drawn highlighted: an edge of the selected neuron, or
    into the neuron whose bias is selected."""
    if sel is not None and sel.startswith("b-"):
        return sel == f"b-{l}-{j}"
    sel_node = sel[2:] if sel and sel[:2] == "n-" else None
    return sel_node in (f"{l - 1}-{i}", f"{l}-{j}")


def flow_of(cursor: Mapping[str, Any], L: int) -> tuple[str | None, int | None]:
    """Which layer the last step computed: ("forward", l), ("backward", l) or (None, None)."""
    phase, layer = cursor["next"], cursor.get("layer")
    if phase == "forward" and layer and layer > 1:
        return "forward", layer - 1
    if phase == "backward" and layer == L:
        return "forward", L
    if phase == "backward" and layer:
        return "backward", layer + 1
    if phase == "update":
        return "backward", 1
    return None, None


def build(state: Mapping[str, Any], row: int | None, sel: str | None,
          href: Callable[[str], str], _: Callable[[str], str],
          heat: list[list[str]] | None = None, projector: bool = False,
          live: bool = False, old: Mapping[tuple[Any, ...], float] | None = None) -> Diagram:
    """``live`` (Play frames, diagram_live.html): no names, links or on-demand labels.
    ``old``: the weights before the update just applied, shown under the new ones."""
    cfg: NormalizedConfig = state["config"]
    sizes: list[int] = list(cfg.layers)
    L = len(sizes) - 1
    layers = state["layers"]
    bias_on = bool(cfg.bias)
    col_names = _column_names(cfg, L, _)
    geo = geometry(tuple(sizes), bias_on, heat is not None, projector, tuple(col_names))
    if geo.width > geo.fz.max_w:  # short column titles ("Hidden 3") where long ones do not fit
        col_names = _column_names(cfg, L, _, short=True)
        geo = geometry(tuple(sizes), bias_on, heat is not None, projector, tuple(col_names))
    fz, line_h, card_w, card_h = geo.fz, geo.line_h, geo.card_w, geo.card_h
    title_h, bias_h, tile, top = geo.title_h, geo.bias_h, geo.tile, geo.top
    detailed, xs, width, height = geo.detailed, geo.xs, geo.width, geo.height
    if not detailed[0]:  # input tiles carry their names on the left: make room for them
        names = [feats.SYMBOLS.get(f, f) for f in cfg.features]
        need = max((len(s) for s in names), default=2) * geo.fz.label * MONO + 10 + tile / 2
        if need > xs[0]:  # move the first column right, the others in proportion (same width)
            end = xs[-1]
            xs = tuple(need + (x - xs[0]) * (end - need) / max(end - xs[0], 1.0) for x in xs)

    symbols = [feats.SYMBOLS.get(f, f) for f in cfg.features]
    if len(symbols) != sizes[0]:
        symbols = [f"x{sub(j + 1)}" for j in range(sizes[0])]
    Ws = [np.asarray(layer["W"], dtype=np.float64) for layer in layers]
    wmax = max((float(np.max(np.abs(Wl))) for Wl in Ws if Wl.size), default=1.0) or 1.0
    amax = 1.0
    flow, flow_layer = flow_of(state["cursor"], L)

    nodes: list[Node] = []
    values: list[float | None] = []  # each node's value, coloured below in one pass
    columns: list[Column] = []
    for l in range(L + 1):
        title, subtitle = col_names[l]
        columns.append(Column(xs[l], title, subtitle))
        for j in range(sizes[l]):
            cy = geo.centre_y(l, j)
            nid = f"n-{l}-{j}"
            if l == 0:
                xv = _cell(state["batch"]["X"], row, j)
                lines = [("x", num(xv))]
                value = xv
                computed = xv is not None
                name = symbols[j]
            elif live and not detailed[l]:  # a Play frame's tile shows a picture or a colour
                value = _cell(layers[l - 1]["a"], row, j)
                lines, computed, name = [], value is not None, ""
            else:
                lay = layers[l - 1]
                z, a, d = (_cell(lay[k], row, j) for k in ("z", "a", "delta"))
                lines = [("z", fixed(z)), ("a", fixed(a)), ("δ", signed(d))]
                value, computed = a, a is not None
                name = f"{'ŷ' if l == L else 'h'}{sub(j + 1)}" + ("" if l == L else f"⁽{sup(l)}⁾")
            aria = ""
            if not live:
                # The name starts with the card's visible text (WCAG 2.5.3), then says where.
                visible = " ".join([name, *(f"{k} {v}" for k, v in lines)])
                aria = _("{visible} ({layer}, neuron {j})").format(
                    visible=visible, layer=title, j=j + 1)
            w = card_w if detailed[l] else tile
            h = card_h[l] if detailed[l] else tile
            values.append(value)
            node = Node(nid, nid, xs[l] - w / 2, cy - h / 2, w, h, detailed[l], name,
                        lines, "", aria,
                        "" if live else href(nid), sel == nid,
                        computed=computed, col=2 * l, row=2 * j,
                        heat=None if heat is None else heat[l][j])
            node.flow = (flow or "") if flow_layer == l else ""
            if l == 0 and not detailed[0]:
                node.label = name
            if bias_on and l > 0 and (detailed[l] or not live):  # Play frames: on cards
                b = layers[l - 1]["b"][j]
                bid = f"b-{l}-{j}"
                text = f"b {signed(b)}"
                node.bias = Bias(bid, bid, node.x, node.y + node.h + 3, text,
                                 "" if live else _("{visible} (bias b{j} of layer {l} = {b})")
                                 .format(visible=text, j=j + 1, l=l, b=num(b)),
                                 "" if live else href(bid), sel == bid, b < 0)
            nodes.append(node)

    fills = diverging_many(np.array([np.nan if v is None else v for v in values],
                                    dtype=np.float64), amax, 0.0, 0.55)
    for node, fill in zip(nodes, fills, strict=True):
        node.fill = fill
    edges: list[Edge] = []
    bare: list[tuple[bool, str]] = []
    # Every layer's edge colours in one vectorised pass (the same arithmetic per element).
    all_colours = diverging_many(np.concatenate([Wl.ravel() for Wl in Ws]) if Ws else
                                 np.zeros(0), wmax, 0.35, 1.0)
    start = 0
    by_id = {n.id: n for n in nodes}
    g_key = grad_key(state)
    for l in range(1, L + 1):
        W, gW = layers[l - 1]["W"], layers[l - 1]["grad_W"]
        n_prev, n = sizes[l - 1], sizes[l]
        labelled = n_prev * n <= EDGE_LABELS_MAX
        Wa = Ws[l - 1]
        colours = all_colours[start:start + Wa.size]
        start += Wa.size
        if live and not labelled:  # bare paths, no Edge objects: most of a Play frame's edges
            bare.extend(_bare_paths(Wa, wmax, colours, [by_id[f"n-{l - 1}-{i}"]
                                                        for i in range(n_prev)],
                                    [by_id[f"n-{l}-{j}"] for j in range(n)]))
            continue
        for i in range(n_prev):
            src = by_id[f"n-{l - 1}-{i}"]
            for j in range(n):
                dst = by_id[f"n-{l}-{j}"]
                wv = float(W[i][j])
                g = None if gW is None else float(gW[i][j])
                eid = f"w-{l}-{i}-{j}"
                x1, y1 = src.x + src.w, src.y + src.h / 2
                x2, y2 = dst.x, dst.y + dst.h / 2
                was = (old or {}).get(("W", l, i, j))
                label = [] if live and not labelled else [f"w {signed(wv)}"] + (
                    [f"{g_key} {signed(g)}"] if g is not None else
                    [f"← {signed(was)}"] if was is not None and was != wv else [])
                if live:
                    aria = ""
                elif g is None:
                    aria = _("Weight w{i},{j} (layer {l}) = {w}").format(
                        i=i + 1, j=j + 1, l=l, w=num(wv))
                else:
                    aria = _("Weight w{i},{j} (layer {l}) = {w}, ∂L/∂w = {g}").format(
                        i=i + 1, j=j + 1, l=l, w=num(wv), g=num(g))
                e = Edge(
                    eid, eid, x1, y1, x2, y2, colours[i * n + j],
                    round(1.0 + 5.0 * min(abs(wv) / wmax, 1.0), 2), wv < 0, aria,
                    "" if live else href(eid),
                    sel == eid, label, col=2 * l - 1, row=i * n + j)
                e.wanted = labelled
                e.flow = (flow or "") if flow_layer == l else ""
                e.highlight = highlighted(sel, l, i, j)
                edges.append(e)
    if not live and flow_layer is not None and not detailed[flow_layer]:
        gaps = [abs(xs[k] - xs[flow_layer]) for k in (flow_layer - 1, flow_layer + 1)
                if 0 <= k <= L]
        active_values(nodes, layers[flow_layer - 1], row, flow_layer, flow or "", fz,
                      min(gaps) - tile / 2 - 4, width)
    place_labels(edges, nodes, columns, fz, title_h, bias_h, top, live)
    # The selected and highlighted edges are drawn last so that they are on top.
    edges.sort(key=lambda e: (e.selected, e.highlight, bool(e.flow)))
    ids = {n.id for n in nodes} | {e.id for e in edges} | {
        n.bias.id for n in nodes if n.bias is not None and n.detailed}
    dg = Diagram(width, height, nodes, edges, columns, all(detailed),
                 sel if sel in ids else "n-0-0")
    dg.sizes, dg.flow, dg.flow_layer, dg.top = fz, flow or "", flow_layer, top
    dg.line_h, dg.title_h, dg.bias_h = line_h, title_h, bias_h
    dg.has_sel = sel is not None and sel in ids
    dg.bare = bare
    if not live and flow_layer is not None and not all(
            e.shown for e in edges if e.id.startswith(f"w-{flow_layer}-")):
        dg.layer_table = layer_table(layers[flow_layer - 1], flow_layer, flow or "", symbols,
                                     L, g_key)
    return dg


def _bare_paths(W: Any, wmax: float, colours: list[str], src: list[Node], dst: list[Node]
                ) -> list[tuple[bool, str]]:
    """(negative, path) of every edge of a layer, for Play frames: the same geometry, colour
    and width as its Edge."""
    widths = np.round(1.0 + 5.0 * np.minimum(np.abs(W) / wmax, 1.0), 2).ravel().tolist()
    neg = (W < 0).ravel().tolist()
    heads = _path_heads(tuple((a.x + a.w, a.y + a.h / 2) for a in src),
                        tuple((b.x, b.y + b.h / 2) for b in dst))
    return [(n, f'{head}{c}" stroke-width="{w:.2g}"/>')
            for n, head, c, w in zip(neg, heads, colours, widths, strict=True)]


@functools.lru_cache(maxsize=256)
def _path_heads(starts: tuple[tuple[float, float], ...], ends: tuple[tuple[float, float], ...]
                ) -> tuple[str, ...]:
    """Each edge's path up to its colour: where the edges go depends on the layout only, so
    Play's ticks reuse it."""
    return tuple(f'<path d="M{x1:g} {y1:g} {x2:g} {y2:g}" stroke="'
                 for x1, y1 in starts for x2, y2 in ends)


def _column_names(cfg: NormalizedConfig, L: int, _: Callable[[str], str], short: bool = False
                  ) -> list[tuple[str, str]]:
    return list(_names(L, cfg.dataset.name, cfg.output_activation, cfg.hidden_activation, _,
                       short))


@functools.lru_cache(maxsize=256)
def _names(L: int, dataset: str, output_activation: str, hidden_activation: str,
           _: Callable[[str], str], short: bool) -> tuple[tuple[str, str], ...]:
    """The column titles: the same for every tick of a session (kept per language)."""
    out = []
    for l in range(L + 1):
        if l == 0:
            out.append((_("Input") if short else _("Input layer"),
                        "" if short else _(option_label(dataset))))
        elif l == L:
            out.append((_("Output") if short else _("Output layer"),
                        _(option_label(output_activation))))
        else:
            out.append(((_("Hidden {l}") if short else _("Hidden layer {l}")).format(l=l),
                        _(option_label(hidden_activation))))
    return tuple(out)


def _label_box(e: Edge, t: float, fz: Sizes) -> Box:
    w = fz.label * MONO * max(len(s) for s in e.label) + 8
    h = fz.label * 1.25 * len(e.label) + 4
    cx, cy = e.x1 + (e.x2 - e.x1) * t, e.y1 + (e.y2 - e.y1) * t
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def obstacles(nodes: list[Node], columns: list[Column], fz: Sizes, title_h: float,
              bias_h: float, top: float) -> tuple[Box, ...]:
    """What an edge label must not cover: the cards (their titles and biases), the tiles, the
    active layer's value boxes and the column titles."""
    placed: list[Box] = []
    for n in nodes:
        if n.abox is not None:
            placed.append(n.abox)
        below = bias_h + 6 if n.bias is not None and n.detailed else 3
        above = title_h + 2 if n.detailed else 3
        placed.append((n.x - 3, n.y - above, n.x + n.w + 3, n.y + n.h + below))
    for c in columns:
        half = max(len(c.title) * fz.col, len(c.subtitle) * fz.sub) * SANS / 2 + 4
        placed.append((c.x - half, 0, c.x + half, top))
    return tuple(placed)


def place_labels(edges: list[Edge], nodes: list[Node], columns: list[Column], fz: Sizes,
                 title_h: float, bias_h: float, top: float, live: bool = False) -> None:
    """Greedy: each wanted edge label goes at the first point along its edge where it overlaps
    no card, title, bias and no label placed before it. A label that fits nowhere is shown
    only on hover, focus or selection (beside its edge, over the rest)."""
    placed = list(obstacles(nodes, columns, fz, title_h, bias_h, top))
    aboxes = [n.abox for n in nodes if n.abox is not None]
    wanted: list[Edge] = []
    for e in edges:
        if live and not e.wanted:  # Play frames draw no labels on demand
            continue
        # Shown-on-demand position: the middle of the edge, or the first point along it clear
        # of the active layer's value boxes (which are drawn over the edges).
        box = _label_box(e, 0.5, fz)
        if aboxes and not e.wanted:
            for t in CANDIDATES:
                b = _label_box(e, t, fz)
                if not any(min(b[2], a[2]) > max(b[0], a[0]) and min(b[3], a[3]) > max(b[1], a[1])
                           for a in aboxes):
                    box = b
                    break
        e.lx, e.ly = round((box[0] + box[2]) / 2, 1), round(box[1] + fz.label + 1, 1)
        e.box = box
        if e.wanted:
            wanted.append(e)
    if not wanted:
        return
    found = spots(tuple(placed), tuple(
        (e.x1, e.y1, e.x2, e.y2, fz.label * MONO * max(len(s) for s in e.label) + 8,
         fz.label * 1.25 * len(e.label) + 4) for e in wanted))
    for e, spot in zip(wanted, found, strict=True):
        if spot is not None:
            e.shown = True
            e.box = spot
            e.lx = round((spot[0] + spot[2]) / 2, 1)
            e.ly = round(spot[1] + fz.label + 1, 1)
