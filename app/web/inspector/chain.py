"""The chain rule for one weight written as ONE product, each factor with its value, for the
focus sample (the inspector, app/web/inspector/formulas.py):

    output layer   ∂ℓ/∂w = ∂ℓ/∂ŷ · ∂ŷ/∂z · ∂z/∂w
    hidden layer   ∂ℓ/∂w = ∂ℓ/∂a · ∂a/∂z · ∂z/∂w,   ∂ℓ/∂a = Σ_k w δ_k (every path out of a)

and, for Mazur's worked example, the same product in his names (w1…w8, b1, b2, E_total,
out/net). The factors are computed here from the state's z, a, y and W, independently of the
δ the engine computed; their product is the sample's term a·δ of the batch sum."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.nn.activations import ACTIVATIONS
from app.nn.losses import LOSSES, is_fused
from app.web.infra.fmt import tex

MAZUR = "worked-example"


def up(l: int) -> str:
    return f"^{{({l})}}"


def frac(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


def mazur_weight(l: int, i: int, j: int) -> str:
    """Mazur's name of W[l][i][j] in the 2-2-2 example: w1 = i1→h1, w2 = i2→h1, w3 = i1→h2,
    w4 = i2→h2, then w5…w8 likewise from h1, h2 to o1, o2."""
    return f"w_{{{4 * (l - 1) + 2 * j + i + 1}}}"


def mazur_bias(l: int) -> str:
    return f"b_{{{l}}}"  # one bias per layer in his walk-through: b1 (hidden), b2 (output)


@dataclass
class Factor:
    symbol: str
    value: float


@dataclass
class Chain:
    lhs: str  # ∂ℓ_n/∂w
    factors: list[Factor]
    paths: str = ""  # hidden layer: ∂ℓ/∂a = Σ_k w δ_k = … with its numbers
    mazur: str = ""  # the product in Mazur's names, worked example only

    @property
    def product(self) -> float:
        return float(np.prod([f.value for f in self.factors]))

    def latex(self) -> str:
        syms = r" \cdot ".join(f.symbol for f in self.factors)
        nums = r" \cdot ".join(tex(f.value, paren=True) for f in self.factors)
        return rf"{self.lhs} = {syms} = {nums} = {tex(self.product)}"


def weight_chain(state: Any, row: int | None, l: int, i: int, j: int,
                 scale: tuple[str, float]) -> Chain | None:
    """The product for w_{i,j} of layer l and the focus sample, once its δ is computed."""
    cfg = state["config"]
    layers = state["layers"]
    L = len(cfg.layers) - 1
    if row is None or layers[l - 1]["delta"] is None:
        return None
    I, J = i + 1, j + 1
    X = state["batch"]["X"]
    a_prev = float(X[row][i] if l == 1 else layers[l - 2]["a"][row][i])
    z = float(layers[l - 1]["z"][row][j])
    a = float(layers[l - 1]["a"][row][j])
    n = state["batch"]["indices"][row] + 1  # samples are numbered from 1 on the page
    w_sym = f"w_{{{I},{J}}}{up(l)}"
    dz_dw = Factor(frac(f"z_{{{J}}}{up(l)}", w_sym), a_prev)
    lhs = frac(r"\ell_{" + str(n) + "}", w_sym)
    s_tex, s_val = scale
    if l == L:
        loss, act = LOSSES[cfg.loss], ACTIVATIONS[cfg.output_activation]
        y = float(state["batch"]["Y"][row][j])
        if is_fused(cfg.loss, cfg.output_activation) or act.prime is None:
            # δ = ∂ℓ/∂z in one piece (ŷ − y, or softmax's Jacobian product)
            d = float(layers[l - 1]["delta"][row][j])
            return Chain(lhs, [Factor(frac(r"\ell", f"z_{{{J}}}{up(l)}"), d), dz_dw])
        g = s_val * float(loss.grad(np.array([a]), np.array([y]))[0])
        fp = float(act.prime(np.asarray(z), np.asarray(a)))
        dl = frac(r"\ell", rf"\hat{{y}}_{{{J}}}")
        if s_tex:
            dl = s_tex + dl
        chain = Chain(lhs, [Factor(dl, g), Factor(frac(rf"\hat{{y}}_{{{J}}}",
                                                            f"z_{{{J}}}{up(l)}"), fp), dz_dw])
        if cfg.preset == MAZUR:
            chain.mazur = _mazur_chain(l, i, j, f"o_{{{J}}}")
        return chain
    W_next = layers[l]["W"]
    d_next = layers[l]["delta"]
    if d_next is None:
        return None
    K = len(W_next[j])
    S = sum(float(W_next[j][k]) * float(d_next[row][k]) for k in range(K))
    terms = " + ".join(rf"{tex(float(W_next[j][k]), paren=True)} \cdot "
                       rf"{tex(float(d_next[row][k]), paren=True)}" for k in range(K))
    a_sym = f"a_{{{J}}}{up(l)}"
    dl_da = frac(r"\ell", a_sym)
    paths = (rf"{dl_da} = \sum_{{k}} w_{{{J},k}}{up(l + 1)} \delta_{{k}}{up(l + 1)}"
             rf" = {terms} = {tex(S)}")
    prime = ACTIVATIONS[cfg.activations[l - 1]].prime
    if prime is None:  # softmax is an output activation only
        return None
    fp = float(prime(np.asarray(z), np.asarray(a)))
    chain = Chain(lhs, [Factor(frac(r"\ell", a_sym), S),
                        Factor(frac(a_sym, f"z_{{{J}}}{up(l)}"), fp), dz_dw], paths)
    if cfg.preset == MAZUR:
        chain.mazur = _mazur_chain(l, i, j, f"h_{{{J}}}")
    return chain


def _mazur_chain(l: int, i: int, j: int, unit: str) -> str:
    """Mazur's chain for a weight into ``unit`` (o₁, h₁): ∂E/∂w = ∂E/∂out · ∂out/∂net ·
    ∂net/∂w."""
    w = mazur_weight(l, i, j)
    return (frac("E_{total}", w) + " = "
            + r" \cdot ".join([frac("E_{total}", f"out_{{{unit}}}"),
                               frac(f"out_{{{unit}}}", f"net_{{{unit}}}"),
                               frac(f"net_{{{unit}}}", w)]))


def mazur_title(cfg: Any, kind: str, nums: list[int], _: Callable[[str], str]) -> str:
    """", Mazur's w5" for the worked example's weights and biases; "" otherwise."""
    if cfg.preset != MAZUR:
        return ""
    if kind == "w":
        name = mazur_weight(*nums).replace("_{", "").replace("}", "")
    elif kind == "b":
        name = f"b{nums[0]}"
    else:
        return ""
    return _("Mazur's {name}").format(name=name)


def loss_numbers(loss: str, y_hat: list[float], y: list[float]) -> str:
    """The focus sample's loss with its numbers put in (the right side after ℓ_n = …)."""
    def yh(k: int) -> str:
        return tex(y_hat[k])

    def yy(k: int) -> str:
        return tex(y[k], paren=True)

    K = range(len(y))
    if loss == "squared_error":
        terms = " + ".join(rf"\left({yh(k)} - {yy(k)}\right)^{{2}}" for k in K)
        return rf"\frac{{1}}{{2}}\left({terms}\right)"
    if loss == "binary_cross_entropy":
        terms = " + ".join(rf"{yy(k)}\log {yh(k)} + \left(1 - {yy(k)}\right)\log\left(1 - "
                           rf"{yh(k)}\right)" for k in K)
        return rf"-\left[{terms}\right]"
    if loss == "cross_entropy":
        return "-(" + " + ".join(rf"{yy(k)}\log {yh(k)}" for k in K if y[k] != 0) + ")"
    return ""
