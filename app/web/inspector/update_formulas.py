"""The inspector's Update step for a selected weight or bias: gradient descent's rule with the
session's numbers, or the optimizer's equations (app/web/inspector/optformulas.py), before the
update (from the gradient and the moments now) or just after it (from what was captured before)."""

from __future__ import annotations

from collections.abc import Callable

from app.sessions.state import SessionState
from app.web.infra.fmt import tex
from app.web.inspector import optformulas
from app.web.inspector.inspector_items import Item, LastUpdate, ParamKey
from app.web.inspector.mathml import mathml


def update_items(state: SessionState, sym: str, value: float, g: float | None, key: ParamKey,
                 last: LastUpdate | None, _: Callable[[str], str]) -> list[Item]:
    """The Update step for this weight or bias: gradient descent's line, or the optimizer's
    equations (app/web/inspector/optformulas.py), with the numbers before the update or just after
    it."""
    lr = float(state["config"].learning_rate)
    if state["config"].optimizer.name != "sgd":
        return _opt_update(state, sym, value, g, key, last, _)
    grad = rf"\frac{{\partial L}}{{\partial {sym}}}"
    latex = rf"{sym} \leftarrow {sym} - \eta\,{grad}"
    if g is not None:
        new = value - lr * g
        latex += rf" = {tex(value)} - {tex(lr)} \cdot {tex(g, paren=True)} = {tex(new)}"
        return [Item(_("Update (gradient descent)"), mathml(latex),
                     _("Applied when you press Update."), spoiler=True)]
    if last is not None:
        old, g_old = last["old"].get(key), last["grad"].get(key)
        if old is not None and g_old is not None:
            latex += (rf" = {tex(old)} - {tex(last['lr'])} \cdot {tex(g_old, paren=True)}"
                      rf" = {tex(value)}")
            return [Item(_("Update (gradient descent)"), mathml(latex),
                         _("Just applied: old value → new value."))]
    return [Item(_("Update (gradient descent)"), mathml(latex))]


def _moments(state: SessionState, key: ParamKey) -> tuple[float | None, float | None]:
    """The optimizer's m and v of this weight or bias now (None where it keeps none)."""
    kind, l, *ij = key
    assert isinstance(l, int)
    opt = state["layers"][l - 1]["optimizer"]
    out: list[float | None] = []
    for name in ("m", "v"):
        rows = opt[f"{name}_{kind}"]  # type: ignore[literal-required]
        if rows is None:
            out.append(None)
        else:
            out.append(float(rows[ij[0]][ij[1]] if kind == "W" else rows[ij[0]]))
    return out[0], out[1]


def _opt_update(state: SessionState, sym: str, value: float, g: float | None, key: ParamKey,
                last: LastUpdate | None, _: Callable[[str], str]) -> list[Item]:
    """The optimizer's equations with this weight's numbers: before the update (from the
    gradient and the moments now) or just after it (from what was captured before)."""
    opt = state["config"].optimizer
    n, applied = None, False
    if g is not None:
        m, v = _moments(state, key)
        n = optformulas.Numbers(value, g, m, v, state["optimizer_step"] + 1,
                               float(state["config"].learning_rate))
    elif last is not None and key in last["old"]:
        n = optformulas.Numbers(last["old"][key], last["grad"][key], last["m"].get(key),
                                last["v"].get(key), last["t"], last["lr"])
        applied = True
    if n is None:
        name = optformulas.NAMES[opt.name]
        return [Item(_("Update ({name})").format(name=name),
                     mathml(rf"{sym} \leftarrow {sym} - \eta\,\Delta"),
                     _("The optimizer's equations appear with this weight's numbers once "
                       "Backward has computed its gradient."))]
    return [Item(line.caption, mathml(line.latex), line.note)
            for line in optformulas.lines(opt, sym, n, _, applied)]
