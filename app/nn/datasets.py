"""Datasets: the lesson's truth tables, generated 2-D sets on [-6, 6]² and inline data.

Generated sets follow TensorFlow Playground's shapes and are deterministic given ``seed``.
Classification labels are 0/1; regression targets are scaled to [0, 1] so that a sigmoid output
can fit them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.nn.activations import Array

TRUTH_TABLES: dict[str, tuple[list[list[float]], list[list[float]]]] = {
    # The lesson's XOR, in its row order.
    "xor": ([[0, 0], [0, 1], [1, 0], [1, 1]], [[0], [1], [1], [0]]),
    "and": ([[0, 0], [0, 1], [1, 0], [1, 1]], [[0], [0], [0], [1]]),
    "or": ([[0, 0], [0, 1], [1, 0], [1, 1]], [[0], [1], [1], [1]]),
}
CLASSIFICATION = ("circle", "xor_scatter", "gauss", "spiral")
REGRESSION = ("plane", "multi_gauss")
GENERATED = CLASSIFICATION + REGRESSION
NAMES = (*TRUTH_TABLES, *GENERATED)
RADIUS = 6.0


@dataclass
class Dataset:
    X: Array
    Y: Array
    X_test: Array | None
    Y_test: Array | None
    task: str  # "classification" | "regression"


def truth_table(name: str) -> Dataset:
    X, Y = TRUTH_TABLES[name]
    return Dataset(
        np.array(X, dtype=np.float64), np.array(Y, dtype=np.float64), None, None, "classification"
    )


def _circle(rng: np.random.RandomState, n: int, noise: float) -> tuple[Array, Array]:
    r_in, r_out = 2.5, 5.0
    half = n // 2
    r = np.concatenate([rng.uniform(0, r_in * 0.9, half), rng.uniform(r_in * 1.3, r_out, n - half)])
    angle = rng.uniform(0, 2 * np.pi, n)
    X = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    X += rng.uniform(-r_out, r_out, X.shape) * noise
    y = (np.hypot(X[:, 0], X[:, 1]) < r_in * 1.1).astype(np.float64)
    return X, y


def _xor_scatter(rng: np.random.RandomState, n: int, noise: float) -> tuple[Array, Array]:
    X = rng.uniform(-5, 5, (n, 2))
    X += np.where(X > 0, 0.3, -0.3)  # keep points off the axes, as Playground does
    label_from = X + rng.uniform(-5, 5, X.shape) * noise
    y = (label_from[:, 0] * label_from[:, 1] >= 0).astype(np.float64)
    return X, y


def _gauss(rng: np.random.RandomState, n: int, noise: float) -> tuple[Array, Array]:
    std = 0.5 + noise * 3.5
    half = n // 2
    X = np.concatenate([rng.normal(2, std, (half, 2)), rng.normal(-2, std, (n - half, 2))])
    y = np.concatenate([np.ones(half), np.zeros(n - half)])
    return X, y


def _spiral(rng: np.random.RandomState, n: int, noise: float) -> tuple[Array, Array]:
    half = n // 2
    parts, labels = [], []
    for k, (count, delta) in enumerate(((half, 0.0), (n - half, np.pi))):
        i = np.arange(count)
        r = i / max(count, 1) * 5.0
        t = 1.75 * i / max(count, 1) * 2 * np.pi + delta
        pts = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        pts += rng.uniform(-1, 1, pts.shape) * noise
        parts.append(pts)
        labels.append(np.full(count, 1.0 - k))
    return np.concatenate(parts), np.concatenate(labels)


def _plane(rng: np.random.RandomState, n: int, noise: float) -> tuple[Array, Array]:
    X = rng.uniform(-RADIUS, RADIUS, (n, 2))
    noisy = X + rng.uniform(-RADIUS, RADIUS, X.shape) * noise
    y = (noisy[:, 0] + noisy[:, 1]) / (4 * RADIUS) + 0.5
    return X, np.clip(y, 0.0, 1.0)


def _multi_gauss(rng: np.random.RandomState, n: int, noise: float) -> tuple[Array, Array]:
    X = rng.uniform(-RADIUS, RADIUS, (n, 2))
    centres = np.array(
        [[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]],
        dtype=np.float64,
    )
    noisy = X + rng.uniform(-RADIUS, RADIUS, X.shape) * noise
    d2 = ((noisy[:, None, :] - centres[None, :, :2]) ** 2).sum(axis=2)
    y = (centres[:, 2][None, :] * np.exp(-d2 / 2.0)).sum(axis=1)
    return X, (np.clip(y, -1.0, 1.0) + 1.0) / 2.0


GENERATORS = {
    "circle": _circle,
    "xor_scatter": _xor_scatter,
    "gauss": _gauss,
    "spiral": _spiral,
    "plane": _plane,
    "multi_gauss": _multi_gauss,
}


def generate(
    name: str, samples: int = 200, noise: float = 0.0, test_ratio: float = 0.5, seed: int = 0
) -> Dataset:
    """A generated 2-D set, shuffled and split into train and test from ``seed``."""
    rng = np.random.RandomState(seed)
    X, y = GENERATORS[name](rng, samples, noise)
    X = np.clip(X, -RADIUS, RADIUS)
    order = rng.permutation(samples)
    X, Y = X[order], y[order].reshape(-1, 1)
    n_test = round(samples * test_ratio)
    n_test = min(n_test, samples - 1)  # at least one training sample
    task = "classification" if name in CLASSIFICATION else "regression"
    if n_test <= 0:
        return Dataset(X, Y, None, None, task)
    return Dataset(X[n_test:], Y[n_test:], X[:n_test], Y[:n_test], task)


def infer_task(Y: Array) -> str:
    """Classification when every target is 0 or 1, else regression."""
    return "classification" if bool(np.all((Y == 0.0) | (Y == 1.0))) else "regression"


def one_hot_binary(Y: Array) -> Array:
    """0/1 labels (N × 1) as two one-hot columns, for a softmax output of width 2."""
    return np.concatenate([1.0 - Y, Y], axis=1)
