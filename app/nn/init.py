"""Reproducible weight initialisation.

``numpy.random.RandomState(seed)`` draws the weight matrices in layer order, each of shape
n_{l-1} × n_l, so seed 1 with uniform [0, 1) is exactly the lesson's
``np.random.seed(1); np.random.rand(2, 4); np.random.rand(4, 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from app.nn.activations import Array

SCHEMES = ("uniform", "normal", "xavier", "he")


def init_weights(
    layers: Sequence[int],
    scheme: str = "xavier",
    *,
    seed: int = 0,
    low: float = 0.0,
    high: float = 1.0,
    std: float = 1.0,
    bias: bool = True,
    bias_value: float = 0.0,
) -> tuple[list[Array], list[Array] | None]:
    rng = np.random.RandomState(seed)
    Ws: list[Array] = []
    for n_in, n_out in pairwise(layers):
        if scheme == "uniform":
            # rand() * (high − low) + low equals rand() exactly for [0, 1): the lesson's draw.
            W = rng.random_sample((n_in, n_out))
            if (low, high) != (0.0, 1.0):
                W = W * (high - low) + low
        elif scheme == "normal":
            W = rng.standard_normal((n_in, n_out)) * std
        elif scheme == "xavier":
            limit = np.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-limit, limit, (n_in, n_out))
        elif scheme == "he":
            W = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
        else:
            raise ValueError(f"unknown init scheme {scheme!r}")
        Ws.append(np.ascontiguousarray(W, dtype=np.float64))
    bs = [np.full(n, float(bias_value)) for n in layers[1:]] if bias else None
    return Ws, bs
