"""Activation functions as (value, backward) pairs.

Callers set ``np.errstate`` once per operation (see :func:`app.nn.network.quiet`): sigmoid is
the lesson's ``1 / (1 + exp(-z))``, which saturates correctly to 0 when ``exp`` overflows, and
keeping that exact form is what lets us reproduce the lesson bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

LEAKY_SLOPE = 0.01


def sigmoid(z: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: Array, a: Array) -> Array:
    # σ'(z) = σ(z)(1 − σ(z)); reusing a avoids a second exp.
    return a * (1.0 - a)


def tanh(z: Array) -> Array:
    return np.tanh(z)


def tanh_prime(z: Array, a: Array) -> Array:
    return 1.0 - a * a


def relu(z: Array) -> Array:
    return np.maximum(z, 0.0)


def relu_prime(z: Array, a: Array) -> Array:
    # The subgradient at 0 is taken as 0, as in most frameworks.
    return (z > 0.0).astype(np.float64)


def leaky_relu(z: Array) -> Array:
    return np.where(z > 0.0, z, LEAKY_SLOPE * z)


def leaky_relu_prime(z: Array, a: Array) -> Array:
    return np.where(z > 0.0, 1.0, LEAKY_SLOPE)


def linear(z: Array) -> Array:
    return z


def linear_prime(z: Array, a: Array) -> Array:
    return np.ones_like(z)


def softmax(z: Array) -> Array:
    # Shift by the row maximum: exp never overflows and the result is unchanged.
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Activation:
    name: str
    f: Callable[[Array], Array]
    # Elementwise derivative f'(z) given z and a = f(z); None for softmax (not elementwise).
    prime: Callable[[Array, Array], Array] | None
    latex: str  # how the formula view writes f

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """δ = ∂L/∂z from g = ∂L/∂a (a vector-Jacobian product)."""
        if self.prime is not None:
            return grad_a * self.prime(z, a)
        # softmax: J = diag(a) − a aᵀ per row, so Jᵀg = a ⊙ (g − Σ_k g_k a_k).
        return a * (grad_a - np.sum(grad_a * a, axis=1, keepdims=True))  # type: ignore[no-any-return]


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_prime, r"\sigma"),
    "tanh": Activation("tanh", tanh, tanh_prime, r"\tanh"),
    "relu": Activation("relu", relu, relu_prime, r"\operatorname{ReLU}"),
    "leaky_relu": Activation("leaky_relu", leaky_relu, leaky_relu_prime, r"\operatorname{LReLU}"),
    "linear": Activation("linear", linear, linear_prime, r"\operatorname{id}"),
    "softmax": Activation("softmax", softmax, None, r"\operatorname{softmax}"),
}

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
OUTPUT_ACTIVATIONS = (*HIDDEN_ACTIVATIONS, "softmax")
