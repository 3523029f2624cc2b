"""Input features for 2-D data, as in TensorFlow Playground: the network sees φ(x₁, x₂).

The map is fixed (it has no parameters), so it is applied once to the data; the network, its
gradients and gradcheck work on the feature matrix exactly as on any other input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from app.nn.activations import Array

FEATURES: dict[str, Callable[[Array, Array], Array]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1_sq": lambda x1, x2: x1 * x1,
    "x2_sq": lambda x1, x2: x2 * x2,
    "x1_x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: np.sin(x1),
    "sin_x2": lambda x1, x2: np.sin(x2),
}
NAMES = tuple(FEATURES)
DEFAULT = ("x1", "x2")
# How each feature is written (math, for labels).
SYMBOLS = {"x1": "x₁", "x2": "x₂", "x1_sq": "x₁²", "x2_sq": "x₂²", "x1_x2": "x₁x₂",
           "sin_x1": "sin x₁", "sin_x2": "sin x₂"}


def is_default(names: Sequence[str]) -> bool:
    return tuple(names) == DEFAULT


def apply(names: Sequence[str], X: Array) -> Array:
    """φ(X): one column per feature, in the order given, from raw 2-D points X (N × 2)."""
    if is_default(names):
        return X
    x1, x2 = X[:, 0], X[:, 1]
    return np.stack([FEATURES[n](x1, x2) for n in names], axis=1).astype(np.float64)
