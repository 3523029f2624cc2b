"""An independent NumPy reference for the engine tests, written from API.md §1 only.

Nothing here imports ``app``: the forward pass, the objective, central finite differences and a
plain backprop are re-derived from the math so that the tests compare the engine against a
second implementation, never against itself.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

LEAKY = 0.01  # leaky_relu slope (API: "leaky_relu (slope 0.01)")

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
# (output activation, loss, target kind) — every supported output/loss pairing.
OUTPUTS = (
    ("sigmoid", "squared_error", "real"),
    ("tanh", "squared_error", "real"),
    ("linear", "squared_error", "real"),
    ("softmax", "squared_error", "soft"),
    ("relu", "squared_error", "real"),
    ("leaky_relu", "squared_error", "real"),
    ("sigmoid", "binary_cross_entropy", "binary"),
    ("sigmoid", "binary_cross_entropy", "soft01"),
    ("softmax", "cross_entropy", "onehot"),
    ("softmax", "cross_entropy", "soft"),
)
OUTPUT_IDS = [f"{o}-{loss}-{t}" for o, loss, t in OUTPUTS]
REGULARIZATIONS = (("none", 0.0), ("l1", 0.03), ("l2", 0.05))


@dataclass(frozen=True)
class Cfg:
    layers: tuple[int, ...]
    hidden: str = "sigmoid"
    output: str = "sigmoid"
    loss: str = "squared_error"
    reduction: str = "sum"
    bias: bool = True
    reg_kind: str = "none"
    reg_rate: float = 0.0


def act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY * z)
    if name == "linear":
        return z.copy()
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def act_prime(name: str, z: np.ndarray) -> np.ndarray:
    """f'(z) from z (the engine works from a; a different rounding path on purpose)."""
    if name == "sigmoid":
        s = act("sigmoid", z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 / np.cosh(z) ** 2
    if name == "relu":
        return (z > 0).astype(float)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY)
    if name == "linear":
        return np.ones_like(z)
    raise ValueError(name)


def forward(cfg: Cfg, Ws, bs, X):
    """zs and activations (acts[0] = X), layer by layer: z = a W + b, a = f(z)."""
    zs, acts = [], [X]
    L = len(Ws)
    for l in range(L):
        z = acts[-1] @ Ws[l]
        if bs is not None:
            z = z + bs[l]
        zs.append(z)
        acts.append(act(cfg.output if l == L - 1 else cfg.hidden, z))
    return zs, acts


def _log_sigmoid(z):
    # log σ(z) = −log(1 + e^{−z})
    return -np.logaddexp(0.0, -z)


def per_sample(cfg: Cfg, z_out, y_hat, Y):
    if cfg.loss == "squared_error":
        return 0.5 * np.sum((y_hat - Y) ** 2, axis=1)
    if cfg.loss == "binary_cross_entropy":
        # log(1 − σ(z)) = log σ(−z)
        return -np.sum(Y * _log_sigmoid(z_out) + (1 - Y) * _log_sigmoid(-z_out), axis=1)
    if cfg.loss == "cross_entropy":
        m = z_out.max(axis=1, keepdims=True)
        log_p = z_out - m - np.log(np.exp(z_out - m).sum(axis=1, keepdims=True))
        return -np.sum(Y * log_p, axis=1)
    raise ValueError(cfg.loss)


def reg_value(cfg: Cfg, Ws) -> float:
    if cfg.reg_kind == "l2":
        return 0.5 * cfg.reg_rate * sum(float(np.sum(W**2)) for W in Ws)
    if cfg.reg_kind == "l1":
        return cfg.reg_rate * sum(float(np.sum(np.abs(W))) for W in Ws)
    return 0.0


def objective(cfg: Cfg, Ws, bs, X, Y) -> float:
    zs, acts = forward(cfg, Ws, bs, X)
    ell = per_sample(cfg, zs[-1], acts[-1], Y)
    total = float(np.sum(ell))
    if cfg.reduction == "mean":
        total /= len(X)
    return total + reg_value(cfg, Ws)


def numeric_grads(cfg: Cfg, Ws, bs, X, Y, eps: float = 1e-6):
    """Central differences (L(θ+ε) − L(θ−ε)) / 2ε for every weight and bias."""
    Ws = [W.copy() for W in Ws]
    bs = None if bs is None else [b.copy() for b in bs]

    def fd(P):
        G = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = old + eps
            plus = objective(cfg, Ws, bs, X, Y)
            P[idx] = old - eps
            minus = objective(cfg, Ws, bs, X, Y)
            P[idx] = old
            G[idx] = (plus - minus) / (2 * eps)
        return G

    gW = [fd(W) for W in Ws]
    gb = None if bs is None else [fd(b) for b in bs]
    return gW, gb


@dataclass(frozen=True)
class Trace:
    """One forward and backward pass: every layer's z, a (acts[0] = X) and delta = ∂L/∂z."""

    zs: list[np.ndarray]
    acts: list[np.ndarray]
    deltas: list[np.ndarray]
    grad_W: list[np.ndarray]
    grad_b: list[np.ndarray]
    loss: float


def backprop_trace(cfg: Cfg, Ws, bs, X, Y) -> Trace:
    """The pass by the chain rule, written out from API.md §1, with every layer's values."""
    zs, acts = forward(cfg, Ws, bs, X)
    L = len(Ws)
    n = len(X)
    scale = 1.0 / n if cfg.reduction == "mean" else 1.0
    y_hat, z_out = acts[-1], zs[-1]
    if cfg.loss == "binary_cross_entropy":
        delta = y_hat - Y
    elif cfg.loss == "cross_entropy":
        delta = y_hat * Y.sum(axis=1, keepdims=True) - Y
    elif cfg.output == "softmax":
        g = y_hat - Y
        delta = y_hat * (g - np.sum(g * y_hat, axis=1, keepdims=True))
    else:
        delta = (y_hat - Y) * act_prime(cfg.output, z_out)
    delta = delta * scale
    deltas: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    gW: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    gb: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L - 1, -1, -1):
        deltas[l] = delta
        gW[l] = acts[l].T @ delta
        if cfg.reg_kind == "l2":
            gW[l] = gW[l] + cfg.reg_rate * Ws[l]
        elif cfg.reg_kind == "l1":
            gW[l] = gW[l] + cfg.reg_rate * np.sign(Ws[l])
        gb[l] = delta.sum(axis=0)
        if l:
            delta = (delta @ Ws[l].T) * act_prime(cfg.hidden, zs[l - 1])
    loss = float(np.sum(per_sample(cfg, z_out, y_hat, Y))) * scale + reg_value(cfg, Ws)
    return Trace(zs, acts, deltas, gW, gb, loss)


def backprop(cfg: Cfg, Ws, bs, X, Y):
    """(L, grad_W, grad_b) by the chain rule (grad_b None without biases)."""
    t = backprop_trace(cfg, Ws, bs, X, Y)
    return t.loss, t.grad_W, (t.grad_b if bs is not None else None)


def targets(kind: str, rng: np.random.RandomState, n: int, k: int) -> np.ndarray:
    if kind == "real":
        return rng.uniform(-0.9, 0.9, (n, k))
    if kind == "binary":
        return rng.randint(0, 2, (n, k)).astype(float)
    if kind == "soft01":
        return rng.uniform(0.0, 1.0, (n, k))
    if kind == "onehot":
        return np.eye(k)[rng.randint(0, k, n)]
    if kind == "soft":
        p = rng.uniform(0.05, 1.0, (n, k))
        return p / p.sum(axis=1, keepdims=True)
    raise ValueError(kind)


class NoKinkFreeSample(AssertionError):
    """Every draw had a pre-activation at a kink (e.g. a dead ReLU layer without biases gives
    z = 0 exactly downstream)."""


def random_problem(cfg: Cfg, target_kind: str, seed: int, n: int = 5, kink_margin: float = 1e-3,
                   attempts: int = 200):
    """Random weights, biases and data, resampled until no ReLU-type pre-activation is within
    ``kink_margin`` of 0 and no weight is within it of 0 (the l1 kink): finite differences with
    ε = 1e-6 then never straddle a kink."""
    kinked = {"relu", "leaky_relu"}
    for attempt in range(attempts):
        rng = np.random.RandomState(seed * 1000 + attempt)
        Ws = [rng.normal(0.0, 0.8, (a, b)) for a, b in itertools.pairwise(cfg.layers)]
        bs = [rng.normal(0.0, 0.3, b) for b in cfg.layers[1:]] if cfg.bias else None
        X = rng.normal(0.0, 1.0, (n, cfg.layers[0]))
        Y = targets(target_kind, rng, n, cfg.layers[-1])
        zs, _ = forward(cfg, Ws, bs, X)
        ok = all(np.min(np.abs(W)) > kink_margin for W in Ws)
        for l, z in enumerate(zs):
            name = cfg.output if l == len(zs) - 1 else cfg.hidden
            if name in kinked and np.min(np.abs(z)) < kink_margin:
                ok = False
        if cfg.output == "relu" and not np.any(zs[-1] > 0):
            ok = False  # a dead output gives an all-zero gradient: nothing to check
        if ok:
            return Ws, bs, X, Y
    raise NoKinkFreeSample(f"no kink-free sample found for {cfg}")
