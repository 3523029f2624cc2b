"""Every per-sample loss, defined once: its value, ∂ℓ/∂ŷ, the fused output delta where it is
exact, and how the formula view writes them (``LOSSES``); the reductions and regularization.

Sum/mean reduction is applied by the caller through ``scale`` (1 or 1/N).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from string import Template

import numpy as np

from app.nn.activations import Array

# Probabilities are clipped this far from 0 and 1 before a log, so a saturated output gives a
# large finite loss instead of inf (only on the unfused path; the fused path works from z).
LOG_EPS = 1e-15

REDUCTIONS = ("sum", "mean")


def _softplus(x: Array) -> Array:
    # log(1 + e^x) without overflow.
    return np.logaddexp(0.0, x)


def squared_error(y_hat: Array, y: Array) -> Array:
    err = y_hat - y
    return 0.5 * np.sum(err * err, axis=1)  # type: ignore[no-any-return]


def squared_error_grad(y_hat: Array, y: Array) -> Array:
    return y_hat - y


def binary_cross_entropy(y_hat: Array, y: Array) -> Array:
    p = np.clip(y_hat, LOG_EPS, 1.0 - LOG_EPS)
    return -np.sum(y * np.log(p) + (1.0 - y) * np.log(1.0 - p), axis=1)  # type: ignore[no-any-return]


def binary_cross_entropy_logits(z: Array, y: Array) -> Array:
    # −[y log σ(z) + (1−y) log(1−σ(z))] = softplus(z) − y z
    return np.sum(_softplus(z) - y * z, axis=1)  # type: ignore[no-any-return]


def binary_cross_entropy_grad(y_hat: Array, y: Array) -> Array:
    p = np.clip(y_hat, LOG_EPS, 1.0 - LOG_EPS)
    return (p - y) / (p * (1.0 - p))


def sigmoid_bce_delta(y_hat: Array, y: Array) -> Array:
    return y_hat - y


def cross_entropy(y_hat: Array, y: Array) -> Array:
    return -np.sum(y * np.log(np.clip(y_hat, LOG_EPS, 1.0)), axis=1)  # type: ignore[no-any-return]


def cross_entropy_logits(z: Array, y: Array) -> Array:
    m = z.max(axis=1, keepdims=True)
    log_softmax = z - m - np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
    return -np.sum(y * log_softmax, axis=1)  # type: ignore[no-any-return]


def cross_entropy_grad(y_hat: Array, y: Array) -> Array:
    return -y / np.clip(y_hat, LOG_EPS, 1.0)


def softmax_ce_delta(y_hat: Array, y: Array) -> Array:
    # ∂/∂z of −Σ y log softmax(z) = ŷ Σ_k y_k − y (= ŷ − y for one-hot rows).
    return y_hat * np.sum(y, axis=1, keepdims=True) - y  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Loss:
    """A per-sample loss ℓ_n(ŷ, y) and its gradient; LaTeX placeholders are $yhat and $y."""

    name: str
    code: int  # the compiled kernel's number for it (never renumber: see Activation.code)
    value: Callable[[Array, Array], Array]  # ℓ_n from ŷ (logs clipped)
    grad: Callable[[Array, Array], Array]  # ∂ℓ_n/∂ŷ, unreduced
    latex: str  # the right side of ℓ_n = …
    grad_latex: Template  # ∂ℓ/∂ŷ
    # The output activation it needs. With it, δ_out = ∂L/∂z is ``fused_delta`` (times the
    # reduction's scale) and ℓ_n is computed from z (``from_logits``), exactly, unclipped.
    output: str | None = None
    from_logits: Callable[[Array, Array], Array] | None = None
    fused_delta: Callable[[Array, Array], Array] | None = None
    # The fused δ_out over the scale; $sum_y: Σ_k y_k (empty when the row sums to 1).
    delta_latex: Template | None = None
    fused_latex: str = ""  # why the chain rule simplifies, when it does not show by itself
    # The targets it is defined for: outside them ℓ can be negative (BCE with y = 5, CE with a
    # negative target), and a training curve below zero teaches nothing true.
    targets: tuple[float, float] = (-np.inf, np.inf)


LOSSES: dict[str, Loss] = {loss.name: loss for loss in (
    Loss("squared_error", 0, squared_error, squared_error_grad,
         r"\frac{1}{2}\sum_{k}\left(\hat{y}_{n,k} - y_{n,k}\right)^{2}", Template("$yhat - $y")),
    Loss("binary_cross_entropy", 1, binary_cross_entropy, binary_cross_entropy_grad,
         r"-\sum_{k}\left[y_{n,k}\log\hat{y}_{n,k} + (1-y_{n,k})\log(1-\hat{y}_{n,k})\right]",
         Template(r"\frac{$yhat-$y}{$yhat(1-$yhat)}"), "sigmoid",
         binary_cross_entropy_logits, sigmoid_bce_delta, Template("$yhat - $y"),
         r"\frac{\partial \ell}{\partial \hat{y}}\,\sigma'(z) = "
         r"\frac{\hat{y}-y}{\hat{y}(1-\hat{y})}\,\hat{y}(1-\hat{y}) = \hat{y}-y",
         targets=(0.0, 1.0)),
    Loss("cross_entropy", 2, cross_entropy, cross_entropy_grad,
         r"-\sum_{k} y_{n,k}\log\hat{y}_{n,k}", Template(r"-\frac{$y}{$yhat}"), "softmax",
         cross_entropy_logits, softmax_ce_delta, Template("$yhat$sum_y - $y"),
         targets=(0.0, np.inf)),
)}


def per_sample(loss: str, y_hat: Array, y: Array, z: Array | None = None) -> Array:
    """ℓ_n for every sample (length N). With ``z`` (output pre-activation) the cross-entropies
    are computed from logits, exactly and without clipping."""
    fn = LOSSES[loss]
    if z is not None and fn.from_logits is not None:
        return fn.from_logits(z, y)
    return fn.value(y_hat, y)


def is_fused(loss: str, output_activation: str) -> bool:
    """Whether δ_out = ŷ − y exactly (sigmoid + BCE, softmax + CE on rows summing to 1)."""
    return LOSSES[loss].output == output_activation


def l1(rate: float, Ws: list[Array]) -> float:
    return rate * float(sum(np.sum(np.abs(W)) for W in Ws))


def l1_grad(rate: float, W: Array) -> Array:
    return rate * np.sign(W)  # subgradient 0 at 0


def l2(rate: float, Ws: list[Array]) -> float:
    return 0.5 * rate * float(sum(np.sum(W * W) for W in Ws))


def l2_grad(rate: float, W: Array) -> Array:
    return rate * W


@dataclass(frozen=True)
class Penalty:
    """A regularization term on the weights (never the biases) and its gradient."""

    name: str
    value: Callable[[float, list[Array]], float]  # (λ, every W) → the term
    grad: Callable[[float, Array], Array]  # (λ, W) → its gradient
    latex: str  # the term, as added to L
    grad_latex: Template  # its derivative by one weight $w, as added to ∂L/∂w


PENALTIES: dict[str, Penalty] = {p.name: p for p in (
    Penalty("l1", l1, l1_grad, r"\lambda\sum_{l}\left|W^{(l)}\right|",
            Template(r"\lambda \operatorname{sign}\left($w\right)")),
    Penalty("l2", l2, l2_grad, r"\frac{\lambda}{2}\sum_{l}\left\|W^{(l)}\right\|^{2}",
            Template(r"\lambda $w")),
)}
# Regularization kinds. A kind's position is the compiled kernel's number for it: append, never
# reorder (numba caches the numbers with compiled.py's machine code).
REG_KINDS = ("none", *PENALTIES)


@dataclass(frozen=True)
class Regularization:
    kind: str = "none"  # one of REG_KINDS
    rate: float = 0.0

    @property
    def active(self) -> bool:
        return self.kind != "none" and self.rate != 0.0

    def value(self, Ws: list[Array]) -> float:
        return PENALTIES[self.kind].value(self.rate, Ws) if self.active else 0.0

    def grad(self, W: Array) -> Array | None:
        return PENALTIES[self.kind].grad(self.rate, W) if self.active else None
