"""The layer diagram as data for an inline SVG: node cards with z, a, δ of the focus sample,
edges coloured and sized by weight (dashed when negative) with ∂L/∂w once computed, biases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from app.nn import features as feats
from app.web.fmt import diverging, num, signed
from app.web.forms import option_label

DETAIL_MAX = 8  # layers up to this many neurons show their numbers
EDGE_LABELS_MAX = 12  # n_{l-1} × n_l up to this shows weight labels on the edges
CARD_W, LINE_H, PAD = 118, 17, 7
DOT_R, DOT_GAP = 9, 26
TOP = 46
HEAT = 40  # px: a neuron's heatmap inside its card


@dataclass
class Node:
    id: str
    sel: str
    x: float
    y: float
    w: float
    h: float
    detailed: bool
    title: str
    lines: list[tuple[str, str]]
    fill: str
    aria: str
    href: str
    selected: bool
    bias: Bias | None = None
    computed: bool = False
    col: int = 0  # arrow-key grid: 2l for layer l's neurons, 2l - 1 for its weights
    row: int = 0
    heat: str | None = None  # the neuron over the input plane (a data: URI)

    @property
    def kx(self) -> float:
        """Where the keys start: right of the heatmap when there is one."""
        return self.x + 9 + (HEAT + 6 if self.heat and self.detailed else 0)

    @property
    def hy(self) -> float:
        return self.y + (self.h - HEAT) / 2


@dataclass
class Bias:
    id: str
    sel: str
    x: float
    y: float
    text: str
    aria: str
    href: str
    selected: bool
    negative: bool


@dataclass
class Edge:
    id: str
    sel: str
    x1: float
    y1: float
    x2: float
    y2: float
    color: str
    width: float
    negative: bool
    aria: str
    href: str
    selected: bool
    label: list[str] = field(default_factory=list)
    lx: float = 0.0
    ly: float = 0.0
    col: int = 0
    row: int = 0


@dataclass
class Column:
    x: float
    title: str
    subtitle: str


@dataclass
class Diagram:
    width: float
    height: float
    nodes: list[Node]
    edges: list[Edge]
    columns: list[Column]
    detailed: bool
    tab_stop: str = "n-0-0"  # the one element of the diagram in the Tab order (roving)
    heat_px: int = HEAT

    @property
    def edges_svg(self) -> Markup:
        """The edges as SVG, built here rather than in the template: a 2-8-8-8-1 network has
        152 of them and Jinja's per-attribute overhead dominated the page's render time."""
        out = []
        for e in self.edges:
            aria = escape(e.aria)
            href = escape(e.href)
            cls = "edge" + (" sel" if e.selected else "") + (" neg" if e.negative else "")
            dash = ' stroke-dasharray="7 4"' if e.negative else ""
            xy = f'x1="{e.x1}" y1="{e.y1}" x2="{e.x2}" y2="{e.y2}"'
            out.append(
                f'<a id="{e.id}" href="{href}" hx-get="{href}" hx-target="#workspace" '
                f'hx-swap="outerHTML" hx-push-url="true" role="button" aria-label="{aria}" '
                f'aria-pressed="{"true" if e.selected else "false"}" class="{cls}" '
                f'tabindex="{0 if e.id == self.tab_stop else -1}" data-col="{e.col}" '
                f'data-row="{e.row}">'
                f"<title>{aria}</title>"
                f'<line class="hit" {xy} stroke="#000" stroke-opacity="0" stroke-width="12"/>'
                f'<line class="stroke" {xy} stroke="{e.color}" stroke-width="{e.width}"{dash}/>'
                "</a>")
        return Markup("\n".join(out))  # every text part escaped above


def _cell(rows: Any, row: int | None, j: int) -> float | None:
    if rows is None or row is None:
        return None
    return float(rows[row][j])


def build(state: dict[str, Any], row: int | None, sel: str | None,
          href: Callable[[str], str], _: Callable[[str], str],
          heat: list[list[str]] | None = None) -> Diagram:
    cfg = state["config"]
    sizes: list[int] = list(cfg["layers"])
    L = len(sizes) - 1
    layers = state["layers"]
    bias_on = bool(cfg["bias"])
    detailed = [n <= DETAIL_MAX for n in sizes]
    card_h = [PAD * 2 + LINE_H * (1 if l == 0 else 3) for l in range(L + 1)]
    if heat is not None:
        card_h = [max(h, HEAT + 10) for h in card_h]
    card_w = CARD_W + (HEAT + 6 if heat is not None else 0)
    symbols = [feats.SYMBOLS.get(f, f) for f in cfg.get("features") or feats.DEFAULT]
    if len(symbols) != sizes[0]:
        symbols = [f"x{_sub(j + 1)}" for j in range(sizes[0])]
    slot = [(card_h[l] + (22 if bias_on and l > 0 else 0) + 16) if detailed[l] else DOT_GAP
            for l in range(L + 1)]
    col_h = [sizes[l] * slot[l] for l in range(L + 1)]
    height = max(col_h) + TOP + 10
    gaps = [230 if sizes[l] * sizes[l + 1] <= EDGE_LABELS_MAX else 150 for l in range(L)]
    xs = [20.0]
    for l in range(L):
        xs.append(xs[-1] + card_w + gaps[l])
    width = xs[-1] + card_w + 20
    wmax = max((abs(v) for layer in layers for r in layer["W"] for v in r), default=1.0) or 1.0
    amax = 1.0

    def centre_y(l: int, j: int) -> float:
        return TOP + (height - TOP - col_h[l]) / 2 + slot[l] * (j + 0.5)

    nodes: list[Node] = []
    columns: list[Column] = []
    for l in range(L + 1):
        if l == 0:
            title, sub = _("Input layer"), _(option_label(str(cfg["dataset"]["name"])))
        elif l == L:
            title, sub = _("Output layer"), _(option_label(cfg["output_activation"]))
        else:
            title = _("Hidden layer {l}").format(l=l)
            sub = _(option_label(cfg["hidden_activation"]))
        columns.append(Column(xs[l] + card_w / 2, title, sub))
        for j in range(sizes[l]):
            cy = centre_y(l, j)
            nid = f"n-{l}-{j}"
            if l == 0:
                xv = _cell(state["batch"]["X"], row, j)
                lines = [("x", num(xv))]
                value = xv
                computed = xv is not None
                name = symbols[j]
            else:
                lay = layers[l - 1]
                z, a, d = (_cell(lay[k], row, j) for k in ("z", "a", "delta"))
                lines = [("z", num(z)), ("a", num(a)), ("δ", signed(d))]
                value, computed = a, a is not None
                name = f"{'ŷ' if l == L else 'h'}{_sub(j + 1)}" + ("" if l == L else f"⁽{_sup(l)}⁾")
            # The name starts with the card's visible text (WCAG 2.5.3), then says where it is.
            visible = " ".join([name, *(f"{k} {v}" for k, v in lines)])
            aria = _("{visible} ({layer}, neuron {j})").format(
                visible=visible, layer=columns[-1].title, j=j + 1)
            w = card_w if detailed[l] else DOT_R * 2
            h = card_h[l] if detailed[l] else DOT_R * 2
            node = Node(nid, nid, xs[l] + (card_w - w) / 2, cy - h / 2, w, h, detailed[l], name,
                        lines, diverging(value, amax, 0.0, 0.55), aria, href(nid), sel == nid,
                        computed=computed, col=2 * l, row=2 * j,
                        heat=None if heat is None else heat[l][j])
            if bias_on and l > 0:
                b = layers[l - 1]["b"][j]
                bid = f"b-{l}-{j}"
                text = f"b {signed(b)}"
                node.bias = Bias(bid, bid, node.x, node.y + node.h + 3, text,
                                 _("{visible} (bias b{j} of layer {l} = {b})").format(
                                     visible=text, j=j + 1, l=l, b=num(b)),
                                 href(bid), sel == bid, b < 0)
            nodes.append(node)

    edges: list[Edge] = []
    by_id = {n.id: n for n in nodes}
    # Edge gradients are the batch's sum: say so when the batch has more than one sample.
    grad_key = "Σ∂" if int(state["batch"]["size"]) > 1 else "∂"
    for l in range(1, L + 1):
        W, gW = layers[l - 1]["W"], layers[l - 1]["grad_W"]
        n_prev, n = sizes[l - 1], sizes[l]
        labelled = n_prev * n <= EDGE_LABELS_MAX
        for i in range(n_prev):
            src = by_id[f"n-{l - 1}-{i}"]
            for j in range(n):
                dst = by_id[f"n-{l}-{j}"]
                wv = float(W[i][j])
                g = None if gW is None else float(gW[i][j])
                eid = f"w-{l}-{i}-{j}"
                x1, y1 = src.x + src.w, src.y + src.h / 2
                x2, y2 = dst.x, dst.y + dst.h / 2
                label = [f"w {signed(wv)}"] + ([f"{grad_key} {signed(g)}"] if g is not None
                                                else [])
                if g is None:
                    aria = _("Weight w{i},{j} (layer {l}) = {w}").format(
                        i=i + 1, j=j + 1, l=l, w=num(wv))
                else:
                    aria = _("Weight w{i},{j} (layer {l}) = {w}, ∂L/∂w = {g}").format(
                        i=i + 1, j=j + 1, l=l, w=num(wv), g=num(g))
                edges.append(Edge(
                    eid, eid, x1, y1, x2, y2, diverging(wv, wmax, 0.35, 1.0),
                    round(1.0 + 5.0 * min(abs(wv) / wmax, 1.0), 2), wv < 0, aria, href(eid),
                    sel == eid, label if labelled else [], col=2 * l - 1, row=i * n + j))
    place_labels(edges, nodes)
    # The selected edge is drawn last so that it is on top.
    edges.sort(key=lambda e: e.selected)
    ids = {n.id for n in nodes} | {e.id for e in edges} | {
        n.bias.id for n in nodes if n.bias is not None and n.detailed}
    return Diagram(width, height, nodes, edges, columns, all(detailed),
                   sel if sel in ids else "n-0-0")


Box = tuple[float, float, float, float]
CANDIDATES = (0.5, 0.38, 0.62, 0.28, 0.72, 0.44, 0.56, 0.33, 0.67, 0.22, 0.78)
CHAR_W, LABEL_LINE = 7.0, 13.0


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(edges: list[Edge], nodes: list[Node]) -> None:
    """Greedy: put each edge label at the first point along its edge where it overlaps no
    node card and no label placed before it (else where it overlaps least)."""
    placed: list[Box] = [(n.x - 2, n.y - 16, n.x + n.w + 2, n.y + n.h + 24) for n in nodes]
    for e in edges:
        if not e.label:
            continue
        w = CHAR_W * max(len(s) for s in e.label) + 6
        h = LABEL_LINE * len(e.label) + 3
        best: tuple[float, Box] | None = None
        for t in CANDIDATES:
            cx, cy = e.x1 + (e.x2 - e.x1) * t, e.y1 + (e.y2 - e.y1) * t
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            cost = sum(_overlap(box, o) for o in placed)
            if best is None or cost < best[0]:
                best = (cost, box)
            if cost == 0:
                break
        assert best is not None
        box = best[1]
        placed.append(box)
        e.lx = round((box[0] + box[2]) / 2, 1)
        e.ly = round(box[1] + 11, 1)


SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sup(k: int) -> str:
    return str(k).translate(SUPERSCRIPTS)


def _sub(k: int) -> str:
    return str(k).translate(SUBSCRIPTS)
