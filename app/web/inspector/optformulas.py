"""The inspector's Update step for an optimizer other than plain SGD: its equations for the
selected weight or bias with the session's numbers (g, the moments before and after, m̂, v̂,
the step count t, old → new), as LaTeX lines that app/web/inspector/formulas.py typesets.

The numbers after the arrow are computed by the engine's own rule (app/nn/optimizers.py) on
this one element, so they are exactly what the update writes (elementwise arithmetic gives the
same bits on one element as on the whole array)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.nn.optimizers import Optimizer, bias_corrections, rule
from app.web.infra.fmt import tex

NAMES = {"momentum": "momentum", "rmsprop": "RMSprop", "adam": "Adam"}


@dataclass(frozen=True)
class Line:
    caption: str
    latex: str
    note: str = ""


@dataclass(frozen=True)
class Numbers:
    """One parameter's update: the value and moments before it, its gradient, update t."""

    p: float
    g: float
    m: float | None
    v: float | None
    t: int
    lr: float


def step_of(opt: Optimizer, n: Numbers) -> tuple[float, float | None, float | None]:
    """(new p, new m, new v) of this element, by the engine's rule."""
    def arr(x: float | None) -> np.ndarray | None:
        return None if x is None else np.array([x])

    p2, m2, v2 = rule(opt, n.lr, n.t, np.array([n.p]), np.array([n.g]), arr(n.m), arr(n.v))
    return (float(p2[0]), None if m2 is None else float(m2[0]),
            None if v2 is None else float(v2[0]))


def lines(opt: Optimizer, sym: str, n: Numbers, _: Callable[[str], str], applied: bool
          ) -> list[Line]:
    """The optimizer's update of ``sym`` (LaTeX of the parameter) in its steps."""
    grad = rf"\frac{{\partial L}}{{\partial {sym}}}"
    g = tex(n.g, paren=True)
    new_p, new_m, new_v = step_of(opt, n)
    t = n.t
    out = [Line(_("Gradient g at update t = {t}").format(t=t), rf"g = {grad} = {tex(n.g)}")]
    if opt.name == "momentum":
        mu = tex(opt.momentum)
        if t == 1:
            out.append(Line(_("Velocity (the first update starts it at g)"),
                            rf"m_{{{t}}} = g = {tex(new_m)}"))
        else:
            out.append(Line(_("Velocity"), rf"m_{{{t}}} = \mu\,m_{{{t - 1}}} + g = {mu} \cdot "
                            rf"{tex(n.m, paren=True)} + {g} = {tex(new_m)}"))
        if opt.nesterov:
            d = rf"g + \mu\,m_{{{t}}}"
            d_num = rf"{g} + {mu} \cdot {tex(new_m, paren=True)}"
        else:
            d, d_num = rf"m_{{{t}}}", tex(new_m, paren=True)
        step = rf"{sym} \leftarrow {sym} - \eta\,({d}) = {tex(n.p)} - {tex(n.lr)} \cdot ({d_num})"
        title = _("Update (Nesterov momentum)") if opt.nesterov else _("Update (momentum)")
    elif opt.name == "rmsprop":
        out.append(Line(_("Average of squared gradients"),
                        rf"v_{{{t}}} = \alpha\,v_{{{t - 1}}} + (1 - \alpha)\,g^2 = "
                        rf"{tex(opt.alpha)} \cdot {tex(n.v)} + {tex(1 - opt.alpha)} \cdot "
                        rf"{g}^2 = {tex(new_v)}"))
        step = (rf"{sym} \leftarrow {sym} - \eta\,\frac{{g}}{{\sqrt{{v_{{{t}}}}} + \varepsilon}}"
                rf" = {tex(n.p)} - {tex(n.lr)} \cdot \frac{{{tex(n.g)}}}"
                rf"{{\sqrt{{{tex(new_v)}}} + {tex(opt.eps)}}}")
        title = _("Update (RMSprop)")
    else:
        assert new_m is not None and new_v is not None
        bc1, bc2 = bias_corrections(opt, t)
        out.append(Line(_("First moment (mean of g)"),
                        rf"m_{{{t}}} = \beta_1 m_{{{t - 1}}} + (1 - \beta_1)\,g = "
                        rf"{tex(opt.beta1)} \cdot {tex(n.m, paren=True)} + "
                        rf"{tex(1 - opt.beta1)} \cdot {g} = {tex(new_m)}"))
        out.append(Line(_("Second moment (mean of g²)"),
                        rf"v_{{{t}}} = \beta_2 v_{{{t - 1}}} + (1 - \beta_2)\,g^2 = "
                        rf"{tex(opt.beta2)} \cdot {tex(n.v)} + {tex(1 - opt.beta2)} \cdot "
                        rf"{g}^2 = {tex(new_v)}"))
        m_hat, v_hat = new_m / bc1, new_v / bc2
        note = _("Bias correction (the moments start at 0)")
        out.append(Line(note, rf"\hat m = \frac{{m_{{{t}}}}}{{1 - \beta_1^{{{t}}}}} = "
                        rf"\frac{{{tex(new_m)}}}{{{tex(bc1)}}} = {tex(m_hat)}"))
        out.append(Line(note, rf"\hat v = \frac{{v_{{{t}}}}}{{1 - \beta_2^{{{t}}}}} = "
                        rf"\frac{{{tex(new_v)}}}{{{tex(bc2)}}} = {tex(v_hat)}"))
        step = (rf"{sym} \leftarrow {sym} - \eta\,\frac{{\hat m}}{{\sqrt{{\hat v}} + "
                rf"\varepsilon}} = {tex(n.p)} - {tex(n.lr)} \cdot \frac{{{tex(m_hat)}}}"
                rf"{{\sqrt{{{tex(v_hat)}}} + {tex(opt.eps)}}}")
        title = _("Update (Adam)")
    note = (_("Just applied: old value → new value.") if applied
            else _("Applied when you press Update."))
    out.append(Line(title, rf"{step} = {tex(new_p)}", note))
    return out
