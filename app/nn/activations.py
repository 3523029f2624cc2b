"""Every activation function, defined once: its value, its derivative, the in-place forms the
training kernel (kernel.py) runs, and how the formula view writes it. The per-layer network, the
kernels (the compiled one by ``code``), the config's choices and the formula view all read
``ACTIVATIONS``; only the compiled loops of app/nn/compiled.py are written out again.

Callers set ``np.errstate`` once per operation (see :func:`app.nn.network.quiet`): sigmoid is
the lesson's ``1 / (1 + exp(-z))``, which saturates correctly to 0 when ``exp`` overflows, and
keeping that exact form is what lets us reproduce the lesson bit for bit.

LaTeX with placeholders is a :class:`string.Template` (``$j``: the neuron's index), as LaTeX's
braces rule out ``str.format``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from string import Template
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

LEAKY_SLOPE = 0.01


class Num(Protocol):
    """How the formula view writes a number (``paren``: a negative one inside a product)."""

    def __call__(self, v: float | None, *, paren: bool = False) -> str: ...


def sigmoid(z: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_into(z: Array, out: Array) -> Array:
    # 1 / (1 + exp(−z)) one operation at a time, each rounding as in sigmoid().
    np.negative(z, out)
    np.exp(out, out)
    out += 1.0
    return np.divide(1.0, out, out)


def sigmoid_prime(z: Array, a: Array) -> Array:
    # σ'(z) = σ(z)(1 − σ(z)); reusing a avoids a second exp.
    return a * (1.0 - a)


def sigmoid_times_prime(g: Array, z: Array, a: Array, tmp: Array) -> None:
    np.subtract(1.0, a, tmp)
    np.multiply(a, tmp, tmp)
    g *= tmp


def sigmoid_prime_tex(z: float, a: float, num: Num) -> str:
    return rf"a(1-a) = {num(a)}\left(1 - {num(a, paren=True)}\right)"


def tanh(z: Array) -> Array:
    return np.tanh(z)


def tanh_into(z: Array, out: Array) -> Array:
    return np.tanh(z, out=out)


def tanh_prime(z: Array, a: Array) -> Array:
    return 1.0 - a * a


def tanh_times_prime(g: Array, z: Array, a: Array, tmp: Array) -> None:
    np.multiply(a, a, tmp)
    np.subtract(1.0, tmp, tmp)
    g *= tmp


def tanh_prime_tex(z: float, a: float, num: Num) -> str:
    return rf"1 - a^{{2}} = 1 - {num(a, paren=True)}^{{2}}"


def relu(z: Array) -> Array:
    return np.maximum(z, 0.0)


def relu_into(z: Array, out: Array) -> Array:
    return np.maximum(z, 0.0, out=out)


def relu_prime(z: Array, a: Array) -> Array:
    # The subgradient at 0 is taken as 0, as in most frameworks.
    return (z > 0.0).astype(np.float64)


def leaky_relu(z: Array) -> Array:
    return np.where(z > 0.0, z, LEAKY_SLOPE * z)


def leaky_relu_prime(z: Array, a: Array) -> Array:
    return np.where(z > 0.0, 1.0, LEAKY_SLOPE)


def step_prime_tex(slope: float) -> Callable[[float, float, Num], str]:
    """ReLU' and leaky ReLU': 1 for z > 0, else the slope."""

    def prime_tex(z: float, a: float, num: Num) -> str:
        return r"1 \;(z > 0)" if z > 0 else rf"{slope:g} \;(z \le 0)"

    return prime_tex


def linear(z: Array) -> Array:
    return z


def linear_prime(z: Array, a: Array) -> Array:
    return np.ones_like(z)


def softmax(z: Array) -> Array:
    # Shift by the row maximum: exp never overflows and the result is unchanged.
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def softmax_backward(z: Array, a: Array, grad_a: Array) -> Array:
    # J = diag(a) − a aᵀ per row, so Jᵀg = a ⊙ (g − Σ_k g_k a_k).
    return a * (grad_a - np.sum(grad_a * a, axis=1, keepdims=True))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Activation:
    name: str
    # The compiled kernel's number for it (compiled.py reads it). numba caches machine code by
    # compiled.py's own source, so never renumber an entry: give a new one a new number.
    code: int
    f: Callable[[Array], Array]
    # Elementwise derivative f'(z) given z and a = f(z); None for softmax (not elementwise,
    # hence output-only: its backward is the vector-Jacobian product ``vjp``).
    prime: Callable[[Array, Array], Array] | None
    latex: str  # how the formula view writes f
    # The right side of "f'(z) = …" with the numbers of one neuron; None without ``prime``.
    prime_latex: Callable[[float, float, Num], str] | None = None
    # In place, for the training kernel (kernel.py): f(z) into ``out``; g ⊙= f'(z) with
    # ``tmp`` as scratch. None: computed from f / backward (a temporary array, same bits).
    f_into: Callable[[Array, Array], Array] | None = None
    times_prime_into: Callable[[Array, Array, Array, Array], None] | None = None
    # Not elementwise only: δ = Jᵀg from z, a and g = ∂L/∂a; how the view writes a_j
    # (``definition``) and δ_j (``vjp_latex``, at the output: g = ∂ℓ/∂ŷ).
    vjp: Callable[[Array, Array, Array], Array] | None = None
    definition: Template | None = None
    vjp_latex: Template | None = None
    # (lo, hi) when f is bounded: the colour scale of its pictures and of the output plot.
    bounds: tuple[float, float] | None = None

    @property
    def elementwise(self) -> bool:
        """Whether f acts on each z alone: such an f can serve hidden layers."""
        return self.prime is not None

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """δ = ∂L/∂z from g = ∂L/∂a (a vector-Jacobian product)."""
        if self.prime is not None:
            return grad_a * self.prime(z, a)
        assert self.vjp is not None
        return self.vjp(z, a, grad_a)

    # Properties, so that the kernel looks the function up once, not once per batch.
    @property
    def into(self) -> Callable[[Array, Array], Array]:
        """into(z, out): f(z) written into ``out`` (returned), bit for bit f(z)."""
        if self.f_into is not None:
            return self.f_into
        f = self.f

        def into(z: Array, out: Array) -> Array:
            out[...] = f(z)
            return out

        return into

    @property
    def times_prime(self) -> Callable[[Array, Array, Array, Array], None]:
        """times_prime(g, z, a, tmp): g ← ∂L/∂z from g = ∂L/∂a in place, bit for bit
        ``backward(z, a, g)``."""
        if self.times_prime_into is not None:
            return self.times_prime_into
        backward = self.backward

        def times_prime(g: Array, z: Array, a: Array, tmp: Array) -> None:
            g[...] = backward(z, a, g)

        return times_prime

    def prime_tex(self, z: float, a: float, num: Num) -> tuple[str, float]:
        """(LaTeX of f'(z) with the numbers, its value) for one neuron."""
        assert self.prime is not None and self.prime_latex is not None
        value = float(self.prime(np.asarray(z), np.asarray(a)))
        return rf"{self.latex}'(z) = {self.prime_latex(z, a, num)}", value


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation("sigmoid", 0, sigmoid, sigmoid_prime, r"\sigma", sigmoid_prime_tex,
               sigmoid_into, sigmoid_times_prime, bounds=(0.0, 1.0)),
    Activation("tanh", 1, tanh, tanh_prime, r"\tanh", tanh_prime_tex, tanh_into,
               tanh_times_prime, bounds=(-1.0, 1.0)),
    Activation("relu", 2, relu, relu_prime, r"\operatorname{ReLU}", step_prime_tex(0.0),
               relu_into),
    Activation("leaky_relu", 3, leaky_relu, leaky_relu_prime, r"\operatorname{LReLU}",
               step_prime_tex(LEAKY_SLOPE)),
    Activation("linear", 4, linear, linear_prime, r"\operatorname{id}", lambda z, a, num: "1"),
    Activation("softmax", 5, softmax, None, r"\operatorname{softmax}", vjp=softmax_backward,
               definition=Template(r"\frac{e^{z_{$j}}}{\sum_{k} e^{z_{k}}}"),
               vjp_latex=Template(r"\hat{y}_{$j}\left(g_{$j} - \sum_{k} g_{k}\hat{y}_{k}\right)"),
               bounds=(0.0, 1.0)),
)}
