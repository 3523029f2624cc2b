"""The diagram's neurons and edges as SVG: one drawing for the page (diagram.html) and the Play
frame (diagram_live.html, app/web/routes/tick.py). Issue #18: they were drawn twice, in Jinja for
the page and in f-strings for Play.

The page draws each neuron as a link into the inspector (its tooltip, its values' data-ref
for predict mode, the active layer's values on tiles), laid out as diagram.html's Jinja loop
laid it out (its indentation kept: the pages are byte for byte what they were). Play draws
the same card, title, values, bias and label without links, titles or tooltips, each
layer's pictures as one sprite shown tile by tile. Written in Python: per-attribute escaping
made a template the larger part of a tick's rendering. Titles, keys and values are our own
symbols and formatted numbers; escaped all the same.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from app.web.drawing import heatmaps
from app.web.drawing.diagram import clickable
from app.web.infra.skeleton import MARK, interleave

REF = {"x": "x", "z": "z", "a": "a", "δ": "d"}  # a value's data-ref prefix (predict mode)


def _card(n: Any, fill: str | None = None) -> str:
    """``fill``: the card's colour, or a skeleton's slot for it (Play, below)."""
    return (f'<rect class="card" x="{n.x}" y="{n.y}" width="{n.w}" height="{n.h}" rx="8" '
            f'fill="{n.fill if fill is None else fill}"/>')


def _title(n: Any, z: Any) -> str:
    return (f'<text class="ntitle" x="{n.x + 6}" y="{n.y - 4}" font-size="{z.title}">'
            f"{escape(n.title)}</text>")


def _key(n: Any, z: Any, k: str, y: float) -> str:
    return f'<text class="nkey" x="{n.kx}" y="{y}" font-size="{z.key}">{escape(k)}</text>'


def _value(n: Any, z: Any, k: str, v: str, y: float, ref: bool) -> str:
    data_ref = f' data-ref="{escape(REF[k])}-{escape(n.id[2:])}"' if ref else ""
    return (f'<text class="nval" data-k="{escape(k)}"{data_ref} x="{n.x + n.w - 8}" y="{y}" '
            f'font-size="{z.value}" text-anchor="end">{escape(v)}</text>')


def _label(n: Any, z: Any) -> str:
    return (f'<text class="inlabel" x="{n.x - 5}" y="{n.y + n.h / 2 + z.label * 0.35}" '
            f'font-size="{z.label}" text-anchor="end">{escape(n.label)}</text>')


def _dot(n: Any, fill: str | None = None) -> str:
    return (f'<circle class="dot" cx="{n.x + n.w / 2}" cy="{n.y + n.h / 2}" r="{n.w / 2}" '
            f'fill="{n.fill if fill is None else fill}"/>')


def _lines_y(n: Any, d: Any) -> list[float]:
    y0 = n.y + (n.h - d.line_h * len(n.lines)) / 2 + d.line_h * 0.78
    return [y0 + i * d.line_h for i in range(len(n.lines))]


def nodes_svg(d: Any, live: bool = False) -> Markup:
    """Every neuron of diagram ``d`` (and its bias): the page's links, or Play's lean tiles."""
    return _live(d) if live else _page(d)


def _page(d: Any) -> Markup:
    z = d.sizes
    out: list[str] = []
    add = out.append
    for n in d.nodes:
        add("      " + clickable("node", n, d.tab_stop, n.col, n.row,
                                 "computed" if n.computed else "",
                                 "flow " + n.flow if n.flow else "") + "\n")
        if n.detailed:
            add("        " + _card(n) + "\n")
            if n.heat:
                heat = escape(n.heat)
                add(f'<image class="nheat" href="{heat}" x="{n.x + 5}" y="{n.hy}" '
                    f'width="{d.heat_px}" height="{d.heat_px}" preserveAspectRatio="none"/>'
                    f'<rect class="nheat-frame" x="{n.x + 5}" y="{n.hy}" width="{d.heat_px}" '
                    f'height="{d.heat_px}"/>')
            add("        " + _title(n, z) + "\n")
            for (k, v), y in zip(n.lines, _lines_y(n, d), strict=True):
                add("        " + _key(n, z, k, y) + "\n")
                add("        " + _value(n, z, k, v, y, ref=True) + "\n")
        else:
            if n.heat:
                add(f'<image class="dotheat" href="{escape(n.heat)}" x="{n.x}" y="{n.y}" '
                    f'width="{n.w}" height="{n.h}" preserveAspectRatio="none"/>'
                    f'<rect class="dot" x="{n.x}" y="{n.y}" width="{n.w}" height="{n.h}" '
                    'fill="none"/>')
            else:
                add(_dot(n))
            if n.abox:
                b = n.abox
                add(f'<g class="active-vals"><rect class="actbg" x="{b[0]}" y="{b[1]}" '
                    f'width="{b[2] - b[0]}" height="{b[3] - b[1]}" rx="4"/>')
                for k, ref, v, kx, vx, y in n.active:
                    add(f'<text class="nkey" x="{kx}" y="{y}" font-size="{z.value}">'
                        f'{escape(k)}</text><text class="nval" data-k="{escape(k)}" '
                        f'data-ref="{escape(ref)}" x="{vx}" y="{y}" font-size="{z.value}">'
                        f"{escape(v)}</text>")
                add("</g>")
            if n.label:
                add(_label(n, z))
            title = escape(n.title)
            add('        <g class="tip" aria-hidden="true">\n'
                f'          <rect x="{n.x + n.w + 4}" y="{n.y - 4}" '
                f'width="{z.value * 0.62 * 13 + 14}" '
                f'height="{8 + z.value * 1.3 * (1 + len(n.lines))}" rx="4"/>\n'
                f'          <text x="{n.x + n.w + 10}" y="{n.y - 4 + z.value * 1.2}" '
                f'font-size="{z.value}">{title}</text>\n')
            for i, (k, v) in enumerate(n.lines, start=1):
                add(f'<text x="{n.x + n.w + 10}" y="{n.y - 4 + z.value * 1.2 + i * z.value * 1.3}"'
                    f' font-size="{z.value}">{escape(k)} {escape(v)}</text>')
            add("        </g>\n")
        add("      </a>\n")
        b = n.bias
        if b and n.detailed:
            add("      " + clickable("bias", b, d.tab_stop, n.col, n.row + 1,
                                     "neg" if b.negative else "") + "\n")
            add(f'        <rect x="{b.x}" y="{b.y}" width="{n.w}" height="{z.label * 1.5}" '
                'rx="9"/>\n'
                f'        <text x="{b.x + n.w / 2}" y="{b.y + z.label * 1.1}" '
                f'font-size="{z.label}" text-anchor="middle">{escape(b.text)}</text>\n'
                "      </a>\n")
    return Markup("".join(out))


def _live(d: Any) -> Markup:
    """Play's neurons. Drawn with their changing values as slots, then filled: Play frames keep
    the slotted drawing per layout (app/web/drawing/diagram_live.py) and fill it each tick."""
    slots: list[str] = []
    return Markup(interleave(_live_drawing(d, slots).split(MARK), slots))


def _live_drawing(d: Any, slots: list[str]) -> str:
    z = d.sizes
    g, pad = d.sprite_grid, heatmaps.SPRITE_PAD

    def slot(value: str) -> str:
        slots.append(value)
        return f"{MARK}{len(slots) - 1}{MARK}"

    out = ["<defs>"]
    for l, uri in enumerate(d.sprites):  # drawn once per layer, shown tile by tile below
        rows = sum(1 for n in d.nodes if n.id.startswith(f"n-{l}-")) * (g + 2 * pad)
        out.append(f'<image id="hs-{l}" href="{slot(uri)}" width="{g}" height="{rows}" '
                   'preserveAspectRatio="none"/>')
    out.append("</defs>")

    def picture(n: Any, cls: str, x: float, y: float, w: float, h: float) -> str:
        if not d.sprites:
            return (f'<image class="{cls}" href="{slot(n.heat)}" x="{x}" y="{y}" width="{w}" '
                    f'height="{h}" preserveAspectRatio="none"/>')
        _n, l, j = n.id.split("-")
        top = int(j) * (g + 2 * pad) + pad
        return (f'<svg class="{cls}" x="{x}" y="{y}" width="{w}" height="{h}" '
                f'viewBox="0 {top} {g} {g}" preserveAspectRatio="none">'
                f'<use href="#hs-{l}"/></svg>')

    for n in d.nodes:
        out.append(f'<g id="{n.id}" class="node">')
        if n.detailed:
            out.append(_card(n, slot(n.fill)))
            if n.heat:
                out.append(picture(n, "nheat", n.x + 5, n.hy, d.heat_px, d.heat_px))
            out.append(_title(n, z))
            for (k, v), y in zip(n.lines, _lines_y(n, d), strict=True):
                out.append(_key(n, z, k, y) + _value(n, z, k, Markup(slot(str(escape(v)))), y,
                                                     ref=False))
            b = n.bias
            if b:
                neg = slot(" neg" if b.negative else "")
                out.append(f'<g class="bias{neg}"><rect x="{b.x}" '
                           f'y="{b.y}" width="{n.w}" height="{z.label * 1.5}" rx="9"/>'
                           f'<text x="{b.x + n.w / 2}" y="{b.y + z.label * 1.1}" '
                           f'font-size="{z.label}" text-anchor="middle">'
                           f'{slot(str(escape(b.text)))}</text></g>')
        elif n.heat:
            out.append(picture(n, "dotheat", n.x, n.y, n.w, n.h))
        out.append(_label(n, z) if n.label else _dot(n, slot(n.fill)))
        out.append("</g>")
    return "".join(out)


def edges_svg(d: Any) -> Markup:
    """Play's edges as bare paths (the page's are links: Diagram.edges_svg); the dashed
    (negative) ones in one group, so the dash pattern is written once."""
    solid = [p for neg, p in d.bare if not neg]
    dashed = [p for neg, p in d.bare if neg]
    for e in d.edges:
        (dashed if e.negative else solid).append(
            f'<path d="M{e.x1:g} {e.y1:g} {e.x2:g} {e.y2:g}" stroke="{e.color}" '
            f'stroke-width="{e.width:.2g}"/>')
    return Markup("".join(solid) + '<g stroke-dasharray="7 4">' + "".join(dashed) + "</g>")
