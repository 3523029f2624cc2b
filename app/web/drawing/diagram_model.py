"""The layer diagram's parts as data: node cards, biases, edges, column titles and the Diagram
the templates draw (app/web/drawing/diagram.py builds it from the state). The edges and their labels
are written as SVG here, not in the template (see ``Diagram.edges_svg``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from markupsafe import Markup, escape

from app.web.drawing.active import LayerTable
from app.web.drawing.layout import HEAT, Sizes


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
    flow: str = ""  # "forward" / "backward": the last step computed this layer
    line_h: float = 17.0
    label: str = ""  # an input tile's name, drawn left of it (x₁², sin x₁)
    # The layer the last step computed, drawn as tiles: its values as text on the tile
    # (key, ref, text, key x, value x, baseline y) over an opaque box (#19).
    active: list[tuple[str, str, str, float, float, float]] = field(default_factory=list)
    abox: tuple[float, float, float, float] | None = None

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
    wanted: bool = False  # a label is drawn on the edge when it fits
    shown: bool = False  # ... and it did fit
    flow: str = ""
    highlight: bool = False  # an edge of the selected neuron or bias
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


class Clickable(Protocol):
    id: str
    href: str
    aria: str
    selected: bool


def clickable(kind: str, el: Clickable, tab_stop: str, col: int, row: int,
              *classes: str) -> Markup:
    """The opening tag of a clickable element of the diagram (a neuron, a bias, a weight) and
    its tooltip; the caller draws the element and closes the ``</a>``. A link htmx follows into
    the workspace (the inspector opens on it), a toggle button to assistive technology, one
    cell of the arrow-key grid (data-col, data-row) with one tab stop for the whole diagram.
    The template draws neurons and biases with it, ``Diagram.edges_svg`` the edges."""
    aria = escape(el.aria)
    href = escape(el.href)
    cls = " ".join([kind, *(["sel"] if el.selected else []), *(c for c in classes if c)])
    return Markup(
        f'<a id="{escape(el.id)}" href="{href}" hx-get="{href}" hx-target="#workspace" '
        f'hx-swap="outerHTML" hx-push-url="true" role="button" aria-label="{aria}" '
        f'aria-pressed="{"true" if el.selected else "false"}" class="{cls}" '
        f'tabindex="{0 if el.id == tab_stop else -1}" data-col="{col}" data-row="{row}">'
        f"<title>{aria}</title>")


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
    sizes: Sizes | None = None
    flow: str = ""
    flow_layer: int | None = None
    top: float = 0.0
    line_h: float = 17.0
    title_h: float = 16.0
    bias_h: float = 0.0  # a bias badge's height (the boxes edge labels avoid)
    has_sel: bool = False
    bare: list[tuple[bool, str]] = field(default_factory=list)  # live: (negative, <path>)
    sprites: list[str] = field(default_factory=list)  # live: a layer's pictures in one image
    sprite_grid: int = 0
    layer_table: LayerTable | None = None  # the weights into the layer just computed

    @property
    def edges_svg(self) -> Markup:
        """The edges as SVG, built here rather than in the template: a 2-8-8-8-1 network has
        152 of them and Jinja's per-attribute overhead dominated the page's render time."""
        out = []
        for e in self.edges:
            dash = ' stroke-dasharray="7 4"' if e.negative else ""
            xy = f'x1="{e.x1}" y1="{e.y1}" x2="{e.x2}" y2="{e.y2}"'
            extra = ""
            if e.flow == "forward":
                extra = (f'<line class="flowline" {xy} marker-end="url(#arrow-forward)"/>')
            elif e.flow == "backward":
                rev = f'x1="{e.x2}" y1="{e.y2}" x2="{e.x1}" y2="{e.y1}"'
                extra = (f'<line class="flowline" {rev} marker-end="url(#arrow-backward)"/>')
            if not e.shown and e.label:  # the label on demand: hover, focus, selection
                b = e.box
                extra += (f'<g class="ondemand" aria-hidden="true"><rect x="{b[0]:.1f}" '
                          f'y="{b[1]:.1f}" width="{b[2] - b[0]:.1f}" height="{b[3] - b[1]:.1f}" '
                          f'rx="3"/>' + self._label_text(e) + "</g>")
            head = clickable("edge", e, self.tab_stop, e.col, e.row, "neg" if e.negative else "",
                             "hl" if e.highlight else "", f"flow {e.flow}" if e.flow else "")
            out.append(
                f"{head}"
                f'<line class="hit" {xy} stroke="#000" stroke-opacity="0" stroke-width="12"/>'
                f'<line class="stroke" {xy} stroke="{e.color}" stroke-width="{e.width}"{dash}/>'
                f"{extra}</a>")
        return Markup("\n".join(out))  # every text part escaped above

    def _label_text(self, e: Edge) -> str:
        return label_text(e.lx, e.ly, e.label, e.selected,
                          self.sizes.label if self.sizes else 12.0)

    @property
    def labels_svg(self) -> Markup:
        """The edge labels that fit, drawn after every edge (so no line crosses them)."""
        return Markup("\n".join(self._label_text(e) for e in self.edges if e.shown))


def label_text(lx: float, ly: float, label: list[str], selected: bool, fs: float) -> str:
    """An edge's label: its weight, then its gradient (or old value), one line each."""
    lh = fs * 1.25
    spans = "".join(
        f'<tspan x="{lx}" dy="{0 if k == 0 else lh:.1f}" class="{"w" if k == 0 else "g"}">'
        f"{escape(line)}</tspan>" for k, line in enumerate(label))
    return (f'<text class="elabel{" sel" if selected else ""}" x="{lx}" y="{ly}" '
            f'font-size="{fs}" text-anchor="middle">{spans}</text>')
