"""Reproducible weight initialisation.

``numpy.random.RandomState(seed)`` draws the weight matrices in layer order, each of shape
n_{l-1} × n_l, so seed 1 with uniform [0, 1) is exactly the lesson's
``np.random.seed(1); np.random.rand(2, 4); np.random.rand(4, 1)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np

from app.nn.activations import Array


def uniform(rng: np.random.RandomState, shape: tuple[int, int], low: float, high: float,
            std: float) -> Array:
    # rand() * (high − low) + low equals rand() exactly for [0, 1): the lesson's draw.
    W = rng.random_sample(shape)
    return W if (low, high) == (0.0, 1.0) else W * (high - low) + low


def normal(rng: np.random.RandomState, shape: tuple[int, int], low: float, high: float,
           std: float) -> Array:
    return rng.standard_normal(shape) * std


def xavier(rng: np.random.RandomState, shape: tuple[int, int], low: float, high: float,
           std: float) -> Array:
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    W: Array = rng.uniform(-limit, limit, shape)
    return W


def he(rng: np.random.RandomState, shape: tuple[int, int], low: float, high: float,
       std: float) -> Array:
    W: Array = rng.standard_normal(shape) * np.sqrt(2.0 / shape[0])
    return W


# name → draw(rng, (n_in, n_out), low, high, std); the names are the config's init schemes.
SCHEMES: dict[str, Callable[[np.random.RandomState, tuple[int, int], float, float, float],
                            Array]] = {
    "uniform": uniform, "normal": normal, "xavier": xavier, "he": he}


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
    draw = SCHEMES.get(scheme)
    if draw is None:
        raise ValueError(f"unknown init scheme {scheme!r}")
    rng = np.random.RandomState(seed)
    Ws = [np.ascontiguousarray(draw(rng, (n_in, n_out), low, high, std), dtype=np.float64)
          for n_in, n_out in pairwise(layers)]
    bs = [np.full(n, float(bias_value)) for n in layers[1:]] if bias else None
    return Ws, bs
