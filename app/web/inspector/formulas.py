"""The inspector: the chain-rule derivation of a selected node, edge, bias or the loss, with the
session's actual numbers, as server-side MathML (latex2mathml).

One module: every derivation is written by one Builder with the same LaTeX symbols and
numbers; split by element they would repeat them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from app.nn.activations import ACTIVATIONS
from app.nn.losses import LOSSES, PENALTIES
from app.sessions.state import SessionState
from app.web.infra.fmt import tex
from app.web.inspector import chain
from app.web.inspector.inspector_items import (
    EXPAND_MAX,
    Inspector,
    Item,
    LastUpdate,
    ParamKey,
    _sum,
    a_sym,
    up,
)
from app.web.inspector.mathml import mathml
from app.web.inspector.update_formulas import update_items

# The inspector's vocabulary (inspector_items.py) and the Update step's formulas
# (update_formulas.py) were split out of this module; their names stay importable from here.
__all__ = ["EXPAND_MAX", "Builder", "Inspector", "Item", "LastUpdate", "ParamKey", "a_sym", "up"]


class Builder:
    """Reads one SessionState (the same dict the JSON API returns) and writes formulas."""

    def __init__(self, state: SessionState, row: int | None, all_rows: bool,
                 _: Callable[[str], str], last_update: LastUpdate | None = None) -> None:
        self.s, self.row, self.all_rows, self._ = state, row, all_rows, _
        self.cfg = state["config"]
        self.sizes: list[int] = list(self.cfg.layers)
        self.L = len(self.sizes) - 1
        self.N = int(state["batch"]["size"])
        self.lr = float(self.cfg.learning_rate)
        self.last_update = last_update

    # --- values ------------------------------------------------------------------------
    def val(self, l: int, key: Literal["z", "a", "delta"], j: int, row: int | None = None
            ) -> float | None:
        """a/z/delta of layer l (0 = inputs) for a row of the selection."""
        row = self.row if row is None else row
        if row is None:
            return None
        rows = self.s["batch"]["X"] if l == 0 else self.s["layers"][l - 1][key]
        return None if rows is None else float(rows[row][j])

    def act(self, l: int) -> str:
        return self.cfg.activations[l - 1]

    def scale(self) -> tuple[str, float]:
        if self.cfg.reduction == "mean":
            return rf"\frac{{1}}{{{self.N}}}", 1.0 / self.N
        return "", 1.0

    # --- selections ----------------------------------------------------------------------
    def build(self, sel: str | None) -> Inspector | None:
        _ = self._
        try:
            if sel == "loss":
                return self.loss()
            kind, *idx = (sel or "").split("-")
            nums = [int(x) for x in idx]
            if kind == "n" and len(nums) == 2 and 0 <= nums[0] <= self.L \
                    and 0 <= nums[1] < self.sizes[nums[0]]:
                return self.node(*nums)
            if kind == "w" and len(nums) == 3 and 1 <= nums[0] <= self.L \
                    and 0 <= nums[1] < self.sizes[nums[0] - 1] \
                    and 0 <= nums[2] < self.sizes[nums[0]]:
                return self.edge(*nums)
            if kind == "b" and len(nums) == 2 and self.cfg.bias and 1 <= nums[0] <= self.L \
                    and 0 <= nums[1] < self.sizes[nums[0]]:
                return self.bias(*nums)
        except ValueError:
            pass
        return None

    def node(self, l: int, j: int) -> Inspector:
        _ = self._
        J = j + 1
        if l == 0:
            x = self.val(0, "a", j)  # a(0) = x
            ins = Inspector(_("Input layer, x{j}").format(j=J), "node")
            ins.items.append(Item(_("Input of the focus sample"), mathml(f"x_{{{J}}} = {tex(x)}")))
            return ins
        title = (_("Output layer, neuron {j}").format(j=J) if l == self.L
                 else _("Hidden layer {l}, neuron {j}").format(l=l, j=J))
        ins = Inspector(title, "node")
        z, a = self.val(l, "z", j), self.val(l, "a", j)
        terms_sym = rf"\sum_{{i}} {a_sym(l - 1, 'i')} w_{{i,{J}}}{up(l)}"
        b = self.s["layers"][l - 1]["b"]
        if b is not None:
            terms_sym += rf" + b_{{{J}}}{up(l)}"
        latex = rf"z_{{{J}}}{up(l)} = {terms_sym}"
        if z is not None:
            W = self.s["layers"][l - 1]["W"]
            terms = [rf"{tex(self.val(l - 1, 'a', i), paren=True)} \cdot {tex(W[i][j], paren=True)}"
                     for i in range(self.sizes[l - 1])]
            if b is not None:
                terms.append(tex(b[j], paren=True))
            latex += f" = {_sum(terms)} = {tex(z)}"
        ins.items.append(Item(_("Forward: weighted sum"), mathml(latex)))
        f = ACTIVATIONS[self.act(l)]
        lhs = rf"\hat{{y}}_{{{J}}} = a_{{{J}}}{up(l)}" if l == self.L else rf"a_{{{J}}}{up(l)}"
        if f.definition is not None:
            latex = rf"{lhs} = {f.definition.substitute(j=J)}"
        else:
            latex = rf"{lhs} = {f.latex}\left(z_{{{J}}}{up(l)}\right)"
            if z is not None:
                latex += rf" = {f.latex}\left({tex(z)}\right)"
        if a is not None:
            latex += f" = {tex(a)}"
        ins.items.append(Item(_("Apply the activation function"), mathml(latex)))
        if z is None:
            ins.hint = _("Press Forward to compute this layer.")
            return ins
        ins.items += self.output_delta(j) if l == self.L else self.hidden_delta(l, j)
        if self.val(l, "delta", j) is None:
            ins.hint = _("Press Backward to compute δ for this layer.")
        return ins

    def output_delta(self, j: int) -> list[Item]:
        _, J, L = self._, j + 1, self.L
        s_tex, s_val = self.scale()
        d = self.val(L, "delta", j)
        if d is None:
            return []
        y_hat, y = self.val(L, "a", j), float(self.s["batch"]["Y"][self.row or 0][j])
        assert y_hat is not None
        lhs = rf"\delta_{{{J}}}{up(L)} = \frac{{\partial L}}{{\partial z_{{{J}}}{up(L)}}}"
        loss = LOSSES[self.cfg.loss]
        f = ACTIVATIONS[self.cfg.output_activation]
        note = _("With mean reduction every δ carries the factor 1/N.") if s_val != 1 else ""
        items: list[Item] = []
        sym = {"yhat": rf"\hat{{y}}_{{{J}}}", "y": rf"y_{{{J}}}"}
        nums = {"yhat": tex(y_hat), "y": tex(y, paren=True)}
        Y = [float(v) for v in self.s["batch"]["Y"][self.row or 0]]
        if loss.delta_latex is not None:  # fused with its output activation: ŷ − y
            if loss.fused_latex:
                items.append(Item(_("Sigmoid and cross-entropy together simplify δ"),
                                  mathml(loss.fused_latex)))
            one = abs(sum(Y) - 1.0) < 1e-12
            sym["sum_y"] = "" if one else r"\sum_{k} y_{k}"
            nums["sum_y"] = "" if one else rf" \cdot {tex(sum(Y))}"
            latex = (rf"{lhs} = {s_tex}\left({loss.delta_latex.substitute(sym)}\right) = "
                     rf"{s_tex}\left({loss.delta_latex.substitute(nums)}\right) = {tex(d)}")
            if loss.name == "cross_entropy":
                simplify = _("Softmax and cross-entropy together simplify δ to ŷ − y.")
                note = _("{first} {second}").format(first=note, second=simplify) if note \
                    else simplify
        elif f.vjp_latex is not None:  # softmax: δ_j = ŷ_j (g_j − Σ_k g_k ŷ_k), g = ∂ℓ/∂ŷ
            a_out = self.s["layers"][L - 1]["a"]
            assert a_out is not None  # δ is computed, so is ŷ
            out = [float(v) for v in a_out[self.row or 0]]
            g = [float(v) for v in loss.grad(np.array(out), np.array(Y))]
            S = sum(gk * ok for gk, ok in zip(g, out, strict=True))
            g_k = loss.grad_latex.substitute(yhat=r"\hat{y}_{k}", y="y_{k}")
            latex = (rf"{lhs} = {s_tex}\,{f.vjp_latex.substitute(j=J)},\; g_{{k}} = {g_k}"
                     rf" = {s_tex}\,{tex(y_hat)}\left({tex(g[j])} - {tex(S, paren=True)}\right)"
                     rf" = {tex(d)}")
        else:
            z = self.val(L, "z", j)
            assert z is not None
            fp_tex, fp = f.prime_tex(z, y_hat, tex)
            items.append(Item(_("Derivative of the activation"), mathml(f"{fp_tex} = {tex(fp)}")))
            latex = (rf"{lhs} = {s_tex}\,\frac{{\partial \ell}}{{\partial \hat{{y}}_{{{J}}}}}\,"
                     rf"f'\left(z_{{{J}}}{up(L)}\right) = {s_tex}\left("
                     rf"{loss.grad_latex.substitute(sym)}\right) f'\left(z_{{{J}}}{up(L)}\right)"
                     rf" = {s_tex}\left({loss.grad_latex.substitute(nums)}\right) \cdot "
                     rf"{tex(fp)} = {tex(d)}")
        items.append(Item(_("Output error δ (chain rule)"), mathml(latex), note))
        return items

    def hidden_delta(self, l: int, j: int) -> list[Item]:
        _, J = self._, j + 1
        d = self.val(l, "delta", j)
        if d is None:
            return []
        z, a = self.val(l, "z", j), self.val(l, "a", j)
        assert z is not None and a is not None
        fp_tex, fp = ACTIVATIONS[self.act(l)].prime_tex(z, a, tex)
        W = self.s["layers"][l]["W"]
        terms = [rf"{tex(W[j][k], paren=True)} \cdot {tex(self.val(l + 1, 'delta', k), paren=True)}"
                 for k in range(self.sizes[l + 1])]
        latex = (rf"\delta_{{{J}}}{up(l)} = f'\left(z_{{{J}}}{up(l)}\right) \sum_{{k}} "
                 rf"w_{{{J},k}}{up(l + 1)} \delta_{{k}}{up(l + 1)} = {tex(fp)} \cdot \left("
                 rf"{_sum(terms)}\right) = {tex(d)}")
        return [Item(_("Derivative of the activation"), mathml(f"{fp_tex} = {tex(fp)}")),
                Item(_("Hidden error δ (chain rule)"), mathml(latex))]

    def _grad_terms(self, l: int, j: int, i: int | None) -> list[str]:
        """The per-sample products a_i δ_j (or δ_j for a bias) when the batch is shown."""
        if not self.all_rows or self.N > EXPAND_MAX:
            return []
        out = []
        for n in range(self.N):
            d = self.val(l, "delta", j, row=n)
            if i is None:
                out.append(tex(d, paren=True))
            else:
                out.append(rf"{tex(self.val(l - 1, 'a', i, row=n), paren=True)} \cdot "
                           rf"{tex(d, paren=True)}")
        return out

    def edge(self, l: int, i: int, j: int) -> Inspector:
        _, I, J = self._, i + 1, j + 1
        lay = self.s["layers"][l - 1]
        w = float(lay["W"][i][j])
        sym = f"w_{{{I},{J}}}{up(l)}"
        ins = Inspector(_("Weight w{i},{j} (layer {l})").format(i=I, j=J, l=l), "edge")
        mazur = chain.mazur_title(self.cfg, "w", [l, i, j], _)
        if mazur:
            ins.title = f"{ins.title} · {mazur}"
        ins.items.append(Item(_("Current value"), mathml(f"{sym} = {tex(w)}")))
        ins.items += self._chain(l, i, j)
        g = None if lay["grad_W"] is None else float(lay["grad_W"][i][j])
        reg = self.cfg.regularization
        reg_sym, reg_num = "", ""
        if reg.kind != "none" and reg.rate:
            penalty = PENALTIES[reg.kind]
            reg_sym = rf" + {penalty.grad_latex.substitute(w=sym)}"
            per_rate = float(penalty.grad(1.0, np.asarray(w)))  # w for L2, sign(w) for L1
            reg_num = rf" + {tex(reg.rate)} \cdot {tex(per_rate, paren=True)}"
        grad_sym = rf"\frac{{\partial L}}{{\partial {sym}}}"
        latex = (rf"{grad_sym} = \sum_{{n}} {a_sym(l - 1, f'n,{I}')} \delta_{{n,{J}}}{up(l)}"
                 + reg_sym)
        if g is not None:
            terms = self._grad_terms(l, j, i)
            if terms:
                latex += f" = {_sum(terms)}{reg_num}"
            latex += f" = {tex(g)}"
        note = "" if self.all_rows and self.N <= EXPAND_MAX else _(
            "The sum runs over all samples of the batch.")
        term = self._sample_term(l, i, j)
        if term is not None:
            ins.items.append(term)
        ins.items.append(Item(self._("Gradient: the sum over the batch ({n} samples)").format(
            n=self.N) if self.N > 1 else _("Gradient"), mathml(latex), note))
        ins.items += self._update(sym, w, g, ("W", l, i, j))
        if g is None:
            ins.hint = _("Press Backward until this layer to compute ∂L/∂w.")
        return ins

    def _chain(self, l: int, i: int, j: int) -> list[Item]:
        """The chain rule as one product for the focus sample (app/web/inspector/chain.py)."""
        _ = self._
        c = chain.weight_chain(self.s, self.row, l, i, j, self.scale())
        if c is None:
            return []
        n = self.s["batch"]["indices"][self.row or 0] + 1  # numbered from 1 on the page
        items = []
        if c.paths:
            items.append(Item(_("∂ℓ/∂a: the sum over every path out of this neuron"),
                              mathml(c.paths)))
        items.append(Item(_("Chain rule for sample #{n}: one product").format(n=n),
                          mathml(c.latex())))
        if c.mazur:
            items.append(Item(_("The same product in Mazur's names"), mathml(c.mazur)))
        return items

    def _sample_term(self, l: int, i: int, j: int) -> Item | None:
        """The focus sample's own term a_i·δ_j of the batch sum (what its diagram shows)."""
        a, d = self.val(l - 1, "a", i), self.val(l, "delta", j)
        if a is None or d is None or self.row is None:
            return None
        n = self.s["batch"]["indices"][self.row] + 1  # numbered from 1 on the page
        I, J = i + 1, j + 1
        latex = (rf"{a_sym(l - 1, f'{n},{I}')} \, \delta_{{{n},{J}}}{up(l)} = "
                 rf"{tex(a, paren=True)} \cdot {tex(d, paren=True)} = {tex(a * d)}")
        return Item(self._("This sample's term (sample #{n})").format(n=n), mathml(latex))

    def bias(self, l: int, j: int) -> Inspector:
        _, J = self._, j + 1
        lay = self.s["layers"][l - 1]
        assert lay["b"] is not None  # a bias is selectable only with biases on
        b = float(lay["b"][j])
        sym = f"b_{{{J}}}{up(l)}"
        ins = Inspector(_("Bias b{j} (layer {l})").format(j=J, l=l), "bias")
        mazur = chain.mazur_title(self.cfg, "b", [l, j], _)
        if mazur:
            ins.title = f"{ins.title} · {mazur}"
        ins.items.append(Item(_("Current value"), mathml(f"{sym} = {tex(b)}")))
        g = None if lay["grad_b"] is None else float(lay["grad_b"][j])
        latex = rf"\frac{{\partial L}}{{\partial {sym}}} = \sum_{{n}} \delta_{{n,{J}}}{up(l)}"
        if g is not None:
            terms = self._grad_terms(l, j, None)
            if terms:
                latex += f" = {_sum(terms)}"
            latex += f" = {tex(g)}"
        ins.items.append(Item(_("Gradient"), mathml(latex)))
        if self.cfg.train_bias:
            ins.items += self._update(sym, b, g, ("b", l, j))
        else:
            ins.items.append(Item(_("Update"), mathml(rf"{sym} \leftarrow {sym}"),
                                  _("Biases are frozen (Train biases is off).")))
        return ins

    def _update(self, sym: str, value: float, g: float | None, key: ParamKey) -> list[Item]:
        return update_items(self.s, sym, value, g, key, self.last_update, self._)

    def loss(self) -> Inspector:
        _ = self._
        ins = Inspector(_("Loss"), "loss")
        ell = rf"\ell_{{n}} = {LOSSES[self.cfg.loss].latex}"
        ps = self.s.get("per_sample_loss")
        out = self.s.get("output")
        if ps is not None and self.row is not None:
            if out is not None:
                nums = chain.loss_numbers(self.cfg.loss, [float(v) for v in out[self.row]],
                                          [float(v) for v in self.s["batch"]["Y"][self.row]])
                ell += f" = {nums}" if nums else ""
            ell += f" = {tex(ps[self.row])}"
        ins.items.append(Item(_("Per-sample loss (focus sample)"), mathml(ell)))
        s_tex, _s = self.scale()
        latex = rf"L = {s_tex}\sum_{{n}} \ell_{{n}}"
        reg = self.cfg.regularization
        if reg.kind != "none" and reg.rate:
            latex += f" + {PENALTIES[reg.kind].latex}"
        if ps is not None and self.all_rows and self.N <= EXPAND_MAX and not reg.rate:
            latex += rf" = {s_tex}\left({_sum([tex(v) for v in ps])}\right)"
        if self.s["loss"] is not None:
            latex += f" = {tex(self.s['loss'])}"
        ins.items.append(Item(_("Objective on the batch"), mathml(latex)))
        if self.cfg.preset == chain.MAZUR:
            ins.items.append(Item(_("In Mazur's names"), mathml(
                r"E_{total} = \sum \frac{1}{2}\left(target - out\right)^{2} = L")))
        mse = self.s["metrics"].get("mse")
        if mse is not None and self.cfg.loss == "squared_error" and self.N > 0:
            K = len(self.s["batch"]["Y"][0])
            ins.items.append(Item(_("Mean squared error (what the lesson prints)"), mathml(
                rf"\mathrm{{MSE}} = \frac{{1}}{{{self.N * K}}}\sum_{{n,k}}\left(\hat{{y}}_{{n,k}}"
                rf" - y_{{n,k}}\right)^{{2}} = {tex(mse)}")))
        return ins
