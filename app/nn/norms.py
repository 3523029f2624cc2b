"""Gradient norms for the learning-dynamics chart: ‖∂L/∂W_l‖ per layer."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from app.nn.activations import Array


def frobenius(g: Array) -> float:
    """‖g‖ as √(Σ g²), rescaled by max |g| when the squares overflow (huge but finite
    gradients just before a divergence)."""
    flat = g.ravel()
    value = math.sqrt(float(flat.dot(flat)))
    if math.isfinite(value):
        return value
    m = float(np.max(np.abs(flat)))
    if not math.isfinite(m) or m == 0.0:
        return m
    scaled = flat / m
    return m * math.sqrt(float(scaled.dot(scaled)))


def grad_norms(grad_W: list[Array]) -> list[float] | None:
    """‖∂L/∂W_l‖ (Frobenius norm) per layer; None if one is not finite."""
    with np.errstate(all="ignore"):
        norms = [frobenius(g) for g in grad_W]
    return norms if all(math.isfinite(v) for v in norms) else None


def norms_from_squares(sq: Array) -> list[list[float] | None]:
    """Rows of per-layer sums of squares → rows of norms (None for a row that overflowed)."""
    with np.errstate(all="ignore"):
        roots = np.sqrt(sq)
    finite: NDArray[np.bool_] = np.asarray(np.isfinite(roots).all(axis=1))
    ok = [bool(v) for v in finite.tolist()]
    return [row if good else None for row, good in zip(roots.tolist(), ok, strict=True)]
