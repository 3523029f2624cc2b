"""Per-sample losses as (value, ∂ℓ/∂ŷ) pairs, with the fused output deltas where they are exact.

Sum/mean reduction is applied by the caller through ``scale`` (1 or 1/N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.nn.activations import Array

# Probabilities are clipped this far from 0 and 1 before a log, so a saturated output gives a
# large finite loss instead of inf (only on the unfused path; the fused path works from z).
LOG_EPS = 1e-15

LOSSES = ("squared_error", "binary_cross_entropy", "cross_entropy")
REDUCTIONS = ("sum", "mean")


def _softplus(x: Array) -> Array:
    # log(1 + e^x) without overflow.
    return np.logaddexp(0.0, x)


def per_sample(loss: str, y_hat: Array, y: Array, z: Array | None = None) -> Array:
    """ℓ_n for every sample (length N). With ``z`` (output pre-activation) the cross-entropies
    are computed from logits, exactly and without clipping."""
    if loss == "squared_error":
        err = y_hat - y
        return 0.5 * np.sum(err * err, axis=1)  # type: ignore[no-any-return]
    if loss == "binary_cross_entropy":
        if z is not None:
            # −[y log σ(z) + (1−y) log(1−σ(z))] = softplus(z) − y z
            return np.sum(_softplus(z) - y * z, axis=1)  # type: ignore[no-any-return]
        p = np.clip(y_hat, LOG_EPS, 1.0 - LOG_EPS)
        return -np.sum(y * np.log(p) + (1.0 - y) * np.log(1.0 - p), axis=1)  # type: ignore[no-any-return]
    if loss == "cross_entropy":
        if z is not None:
            m = z.max(axis=1, keepdims=True)
            log_softmax = z - m - np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
            return -np.sum(y * log_softmax, axis=1)  # type: ignore[no-any-return]
        return -np.sum(y * np.log(np.clip(y_hat, LOG_EPS, 1.0)), axis=1)  # type: ignore[no-any-return]
    raise ValueError(f"unknown loss {loss!r}")


def grad_y_hat(loss: str, y_hat: Array, y: Array) -> Array:
    """∂ℓ_n/∂ŷ (unreduced), for the unfused path."""
    if loss == "squared_error":
        return y_hat - y
    if loss == "binary_cross_entropy":
        p = np.clip(y_hat, LOG_EPS, 1.0 - LOG_EPS)
        return (p - y) / (p * (1.0 - p))
    if loss == "cross_entropy":
        return -y / np.clip(y_hat, LOG_EPS, 1.0)
    raise ValueError(f"unknown loss {loss!r}")


def is_fused(loss: str, output_activation: str) -> bool:
    """Whether δ_out = ŷ − y exactly (sigmoid + BCE, softmax + CE on rows summing to 1)."""
    return (loss, output_activation) in {
        ("binary_cross_entropy", "sigmoid"),
        ("cross_entropy", "softmax"),
    }


@dataclass(frozen=True)
class Regularization:
    kind: str = "none"  # none | l1 | l2
    rate: float = 0.0

    @property
    def active(self) -> bool:
        return self.kind != "none" and self.rate != 0.0

    def value(self, Ws: list[Array]) -> float:
        if not self.active:
            return 0.0
        if self.kind == "l2":
            return 0.5 * self.rate * float(sum(np.sum(W * W) for W in Ws))
        return self.rate * float(sum(np.sum(np.abs(W)) for W in Ws))

    def grad(self, W: Array) -> Array | None:
        if not self.active:
            return None
        if self.kind == "l2":
            return self.rate * W
        return self.rate * np.sign(W)  # subgradient 0 at 0
