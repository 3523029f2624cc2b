"""The regions Play frames draw every tick (partials/diagram_live.html, partials/data_live.html
and, while playing, partials/status.html and partials/loss.html) as filled skeletons
(app/web/infra/skeleton.py): rendered once per layout, language and data, then filled with
each tick's drawing, pictures and numbers. Keep each key in step with its template: it lists
everything the template reads besides the slots."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from markupsafe import Markup, escape

from app.web.infra import i18n
from app.web.infra.skeleton import Slot, fill


class _With:
    """``obj`` with some attributes replaced (a Diagram with its labels left open)."""

    def __init__(self, obj: Any, **overrides: Any) -> None:
        self._obj, self._overrides = obj, overrides

    def __getattr__(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._obj, name)


def diagram(render: Callable[[str, Mapping[str, Any]], str], ctx: Mapping[str, Any]) -> str:
    d = ctx["diagram"]
    z = d.sizes
    key = (ctx["lang"], d.detailed, d.width, d.height, z.col, z.sub, z.label,
           tuple((c.x, c.title, c.subtitle) for c in d.columns))
    values = (ctx["diagram_head"], ctx["live_edges"], d.labels_svg, ctx["live_nodes"])

    def slotted() -> Mapping[str, Any]:
        return {**ctx, "diagram_head": Slot(0), "live_edges": Slot(1),
                "diagram": _With(d, labels_svg=Slot(2)), "live_nodes": Slot(3)}

    return fill(render, "partials/diagram_live.html", slotted, key, values)


def data(render: Callable[[str, Mapping[str, Any]], str], ctx: Mapping[str, Any]) -> str:
    dp = ctx["data"]
    h = dp["heat"]
    heat = None if h is None else (h.size, tuple((t.pos, t.label) for t in h.ticks), h.lo,
                                   h.hi)
    key = (ctx["lang"], ctx["cfg"].dataset.name, dp["n_train"], dp["n_test"], dp["size"],
           dp["accuracy"] is None, heat, ctx["projector"], ctx["points_url"])
    values = (dp["mse"], dp["accuracy"], None if h is None else h.image)

    def slotted() -> Mapping[str, Any]:
        open_dp = {**dp, "mse": Slot(0),
                   "accuracy": None if dp["accuracy"] is None else Slot(1),
                   "heat": None if h is None else replace(h, image=Slot(2))}
        return {**ctx, "data": open_dp}

    return fill(render, "partials/data_live.html", slotted, key, values)


def status(render: Callable[[str, Mapping[str, Any]], str], ctx: Mapping[str, Any]) -> str:
    state = ctx["state"]
    cursor = state["cursor"]
    key = (ctx["lang"], ctx["oob"], tuple((p["state"], p["text"]) for p in ctx["pipeline"]),
           ctx["loss_formula"], state["loss"] is None, bool(ctx["mse_text"]),
           cursor["next"], cursor["layer"], ctx["next_text"], state["status"],
           # as the template writes them (a str and a Markup of one text are equal keys)
           *(None if ctx[k] is None else str(escape(ctx[k])) for k in ("message", "error")))
    values = (state["epoch"], state["iteration"],
              state["loss"] if state["loss"] is not None else "", ctx["loss_text"],
              ctx["mse_text"])

    def slotted() -> Mapping[str, Any]:
        open_state = {**state, "epoch": Slot(0), "iteration": Slot(1),
                      "loss": None if state["loss"] is None else Slot(2)}
        return {**ctx, "state": open_state, "loss_text": Slot(3),
                "mse_text": Slot(4) if ctx["mse_text"] else ""}

    return fill(render, "partials/status.html", slotted, key, values)


def loss(render: Callable[[str, Mapping[str, Any]], str], ctx: Mapping[str, Any]) -> str:
    """The loss curve and the gradient norms (partials/loss.html, partials/gradnorms.html):
    the curves, axes and latest values open. A curve of one point (drawn as a dot) or a
    gradient line of one point is rare and drawn in full."""
    c, g = ctx["curve"], ctx["grad_chart"]
    name = "partials/loss.html"
    if c.empty or c.dot is not None or (g is not None and not all(sr.path for sr in g.series)):
        return render(name, ctx)
    vs = ctx["vs"]
    key = (ctx["lang"], ctx["oob"], ctx["base"], vs.log, vs.query(log=not vs.log), c.log,
           c.points, c.width, c.height, c.top, c.bottom, c.last_test is None, bool(c.test),
           ctx["state"]["status"],
           None if g is None else (g.points, g.width, g.height, g.right,
                                   tuple((sr.label, sr.color, sr.dash) for sr in g.series)))
    # the axis title as the template's _("epoch") gives it: the translation, marked safe
    title = Markup(i18n.gettext_for(ctx["lang"])("epoch"))
    values: list[Any] = [c.last_epoch, c.last_loss_text, c.last_test_text, c.grid,
                         c.axes(title), c.test, c.train]
    if g is not None:
        values += [g.last_text, g.grid, g.axes(title)]
        for sr in g.series:
            values += [sr.path, sr.end_x, sr.label_y]

    def slotted() -> Mapping[str, Any]:
        open_c = _With(c, last_epoch=Slot(0), last_loss_text=Slot(1), last_test_text=Slot(2),
                       grid=Slot(3), axes=lambda _title: Slot(4), test=Slot(5) if c.test else "",
                       train=Slot(6))
        open_g = None if g is None else _With(
            g, last_text=Slot(7), grid=Slot(8), axes=lambda _title: Slot(9),
            series=[_With(sr, path=Slot(10 + 3 * i), end_x=Slot(11 + 3 * i),
                          label_y=Slot(12 + 3 * i)) for i, sr in enumerate(g.series)])
        return {**ctx, "curve": open_c, "grad_chart": open_g}

    return fill(render, name, slotted, key, values)
