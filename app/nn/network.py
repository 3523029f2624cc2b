"""A fully connected network and its per-layer forward, backward and update rules.

Row-vector convention (docs/api.md, Conventions): a[0] = X (N × n₀), z[l] = a[l-1] @ W[l] + b[l],
a[l] = f_l(z[l]), delta[l] = ∂L/∂z[l], grad_W[l] = a[l-1]ᵀ @ delta[l], grad_b[l] = Σ_n delta[l].
Layer l (1-based, as in the math) is stored at index l − 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import ParamSpec, TypeVar

import numpy as np

from app.nn import losses, optimizers
from app.nn.activations import ACTIVATIONS, Activation, Array
from app.nn.losses import Regularization
from app.nn.optimizers import SGD, Optimizer, OptState

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def quiet_math() -> Iterator[None]:
    """Silence floating-point warnings: saturation is intended and divergence is checked
    explicitly (every result is tested for finiteness before it is kept)."""
    with np.errstate(all="ignore"):
        yield


def quiet(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper


def all_finite(*arrays: Array | None) -> bool:
    # Element by element: a sum would overflow on large finite values (1.7e308 + 1.7e308).
    return all(x is None or bool(np.isfinite(x).all()) for x in arrays)


@dataclass(frozen=True)
class Spec:
    """Architecture and objective: everything but the weights."""

    layers: tuple[int, ...]
    hidden_activation: str = "sigmoid"
    output_activation: str = "sigmoid"
    loss: str = "squared_error"
    reduction: str = "sum"
    bias: bool = True
    regularization: Regularization = field(default_factory=Regularization)

    @property
    def L(self) -> int:
        return len(self.layers) - 1

    def activation(self, l: int) -> Activation:
        """f_l for layer l = 1..L."""
        name = self.output_activation if l == self.L else self.hidden_activation
        return ACTIVATIONS[name]

    @property
    def fused(self) -> bool:
        return losses.is_fused(self.loss, self.output_activation)

    def scale(self, n: int) -> float:
        return 1.0 / n if self.reduction == "mean" else 1.0


@dataclass
class Network:
    spec: Spec
    W: list[Array]
    b: list[Array] | None

    def copy(self) -> Network:
        return Network(
            self.spec,
            [W.copy() for W in self.W],
            None if self.b is None else [b.copy() for b in self.b],
        )

    # --- forward -------------------------------------------------------------------------
    def forward_layer(self, l: int, a_prev: Array) -> tuple[Array, Array]:
        z = a_prev.dot(self.W[l - 1])
        if self.b is not None:
            z += self.b[l - 1]
        return z, self.spec.activation(l).f(z)

    def forward(self, X: Array) -> tuple[list[Array], list[Array]]:
        zs: list[Array] = []
        acts: list[Array] = [X]
        for l in range(1, self.spec.L + 1):
            z, a = self.forward_layer(l, acts[-1])
            zs.append(z)
            acts.append(a)
        return zs, acts

    def predict(self, X: Array) -> Array:
        return self.forward(X)[1][-1]

    # --- objective -----------------------------------------------------------------------
    def per_sample_loss(self, y_hat: Array, Y: Array, z_out: Array) -> Array:
        return losses.per_sample(self.spec.loss, y_hat, Y, z_out if self.spec.fused else None)

    def objective(self, y_hat: Array, Y: Array, z_out: Array) -> tuple[float, Array]:
        """(L, ℓ_n): the reduced loss plus the regularization term, and the per-sample losses."""
        ell = self.per_sample_loss(y_hat, Y, z_out)
        return self.reduce_loss(ell, y_hat - Y if self.spec.loss == "squared_error" else None), ell

    def reduce_loss(self, ell: Array, err: Array | None) -> float:
        """Σ_n ℓ_n (or the mean) plus the regularization term. For squared error the sum is
        ½·Σ err², numpy's pairwise sum over the flattened squares: the lesson's
        np.mean((ŷ − y)²) sums the same way, and unlike a BLAS dot it does not depend on the
        CPU's kernel. The training loop (kernel.py) computes it identically."""
        total = float(np.sum(ell)) if err is None else 0.5 * float((err * err).ravel().sum())
        if self.spec.reduction == "mean":
            total /= len(ell)
        return total + self.spec.regularization.value(self.W)

    # --- backward ------------------------------------------------------------------------
    def output_delta(self, z: Array, y_hat: Array, Y: Array) -> Array:
        """delta[L] = ∂L/∂z[L] = scale · ∂ℓ/∂ŷ ⊙ f'(z) (fused forms where exact)."""
        spec = self.spec
        loss = losses.LOSSES[spec.loss]
        if spec.fused:
            assert loss.fused_delta is not None
            delta = loss.fused_delta(y_hat, Y)
        else:
            delta = spec.activation(spec.L).backward(z, y_hat, loss.grad(y_hat, Y))
        s = spec.scale(len(Y))
        return delta if s == 1.0 else delta * s

    def hidden_delta(self, l: int, delta_next: Array, z: Array, a: Array) -> Array:
        """delta[l] = (delta[l+1] @ W[l+1]ᵀ) ⊙ f'_l(z[l])."""
        return self.spec.activation(l).backward(z, a, delta_next.dot(self.W[l].T))

    def layer_grads(self, l: int, a_prev: Array, delta: Array) -> tuple[Array, Array | None]:
        grad_W = a_prev.T.dot(delta)
        reg = self.spec.regularization.grad(self.W[l - 1])
        if reg is not None:
            grad_W += reg
        grad_b = delta.sum(axis=0) if self.b is not None else None
        return grad_W, grad_b

    def backward(
        self, zs: list[Array], acts: list[Array], Y: Array
    ) -> tuple[list[Array], list[Array], list[Array | None]]:
        """All deltas and gradients, output layer first internally; returned in layer order."""
        L = self.spec.L
        deltas: list[Array] = [np.empty(0)] * L
        gWs: list[Array] = [np.empty(0)] * L
        gbs: list[Array | None] = [None] * L
        delta = self.output_delta(zs[L - 1], acts[L], Y)
        for l in range(L, 0, -1):
            if l < L:
                delta = self.hidden_delta(l, delta, zs[l - 1], acts[l])
            deltas[l - 1] = delta
            gWs[l - 1], gbs[l - 1] = self.layer_grads(l, acts[l - 1], delta)
        return deltas, gWs, gbs

    # --- update --------------------------------------------------------------------------
    def param_shapes(self) -> list[tuple[int, ...]]:
        """The shapes of W₁…W_L, then b₁…b_L: the optimizer state's layout."""
        return [W.shape for W in self.W] + [b.shape for b in self.b or []]

    def updated(
        self,
        grad_W: list[Array],
        grad_b: list[Array | None],
        learning_rate: float,
        train_bias: bool,
        optimizer: Optimizer = SGD,
        state: OptState | None = None,
    ) -> tuple[list[Array], list[Array] | None, OptState] | None:
        """The optimizer's step (plain SGD: W − η·grad_W, b − η·grad_b) with its new state, or
        None when any new value is not finite. Frozen biases keep their arrays."""
        if state is None:
            state = OptState.zeros(optimizer, self.param_shapes())
        n_W = len(self.W)
        params = list(self.W) + list(self.b or [])
        grads: list[Array | None] = list(grad_W)
        if self.b is not None:
            grads += list(grad_b) if train_bias else [None] * len(self.b)
        new = optimizers.apply(optimizer, state, learning_rate, params, grads)
        if new is None:
            return None
        new_p, new_state = new
        new_b = self.b if self.b is None or not train_bias else new_p[n_W:]
        return new_p[:n_W], new_b, new_state
