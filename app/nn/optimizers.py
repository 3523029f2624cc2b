"""The optimizers: how a gradient becomes a step. PyTorch's update rules, re-derived here.

For a parameter p with gradient g (the L1/L2 term included), learning rate η and the update's
number t = 1, 2, … (docs/api.md, Optimizers):

* ``sgd``:       p ← p − η·g
* ``momentum``:  m ← μ·m + g (m = g at t = 1); d = g + μ·m (Nesterov) or m; p ← p − η·d
  (torch.optim.SGD, dampening 0)
* ``rmsprop``:   v ← α·v + (1 − α)·g²; p ← p − η·g / (√v + ε)
  (torch.optim.RMSprop, centered=False, momentum=0)
* ``adam``:      m ← β₁·m + (1 − β₁)·g; v ← β₂·v + (1 − β₂)·g²;
  p ← p − (η / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)   (torch.optim.Adam, bias-corrected:
  the same as p − η·m̂ / (√v̂ + ε) with m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ))

:func:`rule` is the one elementwise formula: the step-through update (per layer, through
:func:`apply` and Network.updated) and the NumPy kernel (over one flat array) both call it, so
they agree bit for bit; the compiled kernel's one update function (``update`` in
app/nn/compiled.py: numba cannot call NumPy code) writes the same expressions in the same
order.

The state (m, v, the step count t) lives beside the weights, one array per parameter array in
the order W₁…W_L then b₁…b_L (b only when the network has biases). It is never changed in place:
an update makes new arrays, so a captured state stays as it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NotRequired

import numpy as np
from typing_extensions import TypedDict

from app.nn.activations import Array

NAMES = ("sgd", "momentum", "rmsprop", "adam")
# Integer codes for the compiled kernel.
CODES = {name: i for i, name in enumerate(NAMES)}
SGD_CODE, MOMENTUM_CODE, RMSPROP_CODE, ADAM_CODE = range(4)

# The parameters each optimizer has, with PyTorch's defaults but for momentum's μ (0 in
# torch: here the point of choosing momentum).
DEFAULTS: dict[str, dict[str, float | bool]] = {
    "sgd": {},
    "momentum": {"momentum": 0.9, "nesterov": False},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}


class OptimizerDocument(TypedDict):
    """An optimizer's wire form: its name and its own parameters only."""

    name: str
    momentum: NotRequired[float]
    nesterov: NotRequired[bool]
    alpha: NotRequired[float]
    eps: NotRequired[float]
    beta1: NotRequired[float]
    beta2: NotRequired[float]


@dataclass(frozen=True, slots=True)
class Optimizer:
    """An optimizer and its parameters (those another optimizer has are ignored)."""

    name: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    alpha: float = 0.99
    eps: float = 1e-8
    beta1: float = 0.9
    beta2: float = 0.999

    @property
    def code(self) -> int:
        return CODES[self.name]

    @property
    def uses_m(self) -> bool:
        """Whether it keeps a first moment (momentum's velocity, Adam's m)."""
        return self.name in ("momentum", "adam")

    @property
    def uses_v(self) -> bool:
        """Whether it keeps a second moment (RMSprop's and Adam's v)."""
        return self.name in ("rmsprop", "adam")

    def to_dict(self) -> OptimizerDocument:
        """The wire form: the name and this optimizer's own parameters only."""
        if self.name == "momentum":
            return {"name": self.name, "momentum": self.momentum, "nesterov": self.nesterov}
        if self.name == "rmsprop":
            return {"name": self.name, "alpha": self.alpha, "eps": self.eps}
        if self.name == "adam":
            return {"name": self.name, "beta1": self.beta1, "beta2": self.beta2,
                    "eps": self.eps}
        return {"name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, object] | None) -> Optimizer:
        """From the wire form or a checked request (a parameter left out or null: its
        default; another optimizer's parameters: ignored)."""
        if not d:
            return cls()
        name = str(d.get("name") or "sgd")
        own, base = DEFAULTS[name], cls()

        def num(k: str, default: float) -> float:
            v = d.get(k)
            return v if k in own and isinstance(v, int | float) else default

        nesterov = d.get("nesterov")
        return cls(name, momentum=num("momentum", base.momentum),
                   nesterov=nesterov if "nesterov" in own and isinstance(nesterov, bool)
                   else base.nesterov,
                   alpha=num("alpha", base.alpha), eps=num("eps", base.eps),
                   beta1=num("beta1", base.beta1), beta2=num("beta2", base.beta2))


SGD = Optimizer()
# Every optimizer's parameters as numbers, in the order the compiled kernel reads them (its
# ``hp`` vector, unpacked in compiled.update).
PARAMS = ("momentum", "nesterov", "alpha", "eps", "beta1", "beta2")


@dataclass(frozen=True)
class OptState:
    """t: updates made so far; m, v: per parameter array (W₁…W_L, then b₁…b_L), or None
    when the optimizer keeps no such moment. Arrays are never written in place."""

    step: int
    m: tuple[Array, ...] | None
    v: tuple[Array, ...] | None

    @classmethod
    def zeros(cls, opt: Optimizer, shapes: list[tuple[int, ...]]) -> OptState:
        def fresh() -> tuple[Array, ...]:
            return tuple(np.zeros(s) for s in shapes)

        return cls(0, fresh() if opt.uses_m else None, fresh() if opt.uses_v else None)

    def fits(self, opt: Optimizer, shapes: list[tuple[int, ...]]) -> bool:
        """Whether this state belongs to ``opt`` over parameters of these shapes."""
        for arrays, used in ((self.m, opt.uses_m), (self.v, opt.uses_v)):
            if (arrays is not None) != used:
                return False
            if arrays is not None and [a.shape for a in arrays] != shapes:
                return False
        return True

    def copy(self) -> OptState:
        def dup(xs: tuple[Array, ...] | None) -> tuple[Array, ...] | None:
            return None if xs is None else tuple(x.copy() for x in xs)

        return OptState(self.step, dup(self.m), dup(self.v))

    def same(self, other: OptState) -> bool:
        """Bit for bit the same state."""
        if self.step != other.step:
            return False
        for a, b in ((self.m, other.m), (self.v, other.v)):
            if (a is None) != (b is None):
                return False
            if a is not None and b is not None and (
                len(a) != len(b)
                or any(x.shape != y.shape or x.tobytes() != y.tobytes()
                       for x, y in zip(a, b, strict=True))):
                return False
        return True


def bias_corrections(opt: Optimizer, t: int) -> tuple[float, float]:
    """(1 − β₁ᵗ, 1 − β₂ᵗ): Adam's bias corrections at update t."""
    return 1.0 - opt.beta1 ** t, 1.0 - opt.beta2 ** t


def rule(opt: Optimizer, lr: float, t: int, p: Array, g: Array, m: Array | None,
         v: Array | None, out: Array | None = None
         ) -> tuple[Array, Array | None, Array | None]:
    """(new p, new m, new v) for update number t (1-based): new arrays (the new p written into
    ``out`` if given, as the NumPy kernel's spare buffer), inputs untouched. The one update rule
    of the NumPy side; a new optimizer is one more branch here (and in compiled.update)."""
    name = opt.name
    if name == "sgd":
        return np.subtract(p, lr * g, out=out), None, None
    if name == "momentum":
        assert m is not None
        # torch.optim.SGD: the buffer starts as the first gradient itself.
        m_new = g.copy() if t == 1 else opt.momentum * m + g
        d = g + opt.momentum * m_new if opt.nesterov else m_new
        return np.subtract(p, lr * d, out=out), m_new, None
    if name == "rmsprop":
        assert v is not None
        v_new = opt.alpha * v + (1.0 - opt.alpha) * (g * g)
        return np.subtract(p, lr * (g / (np.sqrt(v_new) + opt.eps)), out=out), None, v_new
    assert m is not None and v is not None
    m_new = opt.beta1 * m + (1.0 - opt.beta1) * g
    v_new = opt.beta2 * v + (1.0 - opt.beta2) * (g * g)
    bc1, bc2 = bias_corrections(opt, t)
    denom = np.sqrt(v_new) / math.sqrt(bc2) + opt.eps
    return np.subtract(p, (lr / bc1) * (m_new / denom), out=out), m_new, v_new


def _finite(xs: list[Array] | tuple[Array, ...] | None) -> bool:
    return xs is None or all(bool(np.isfinite(x).all()) for x in xs)


def apply(opt: Optimizer, state: OptState, lr: float, params: list[Array],
          grads: list[Array | None]) -> tuple[list[Array], OptState] | None:
    """One update of every parameter array (a None gradient: that array is not trained, its
    value and moments stay). None when any new value or moment is not finite."""
    t = state.step + 1
    new_p: list[Array] = []
    new_m: list[Array] | None = None if state.m is None else []
    new_v: list[Array] | None = None if state.v is None else []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        m = None if state.m is None else state.m[i]
        v = None if state.v is None else state.v[i]
        if g is None:
            p2, m2, v2 = p, m, v
        else:
            p2, m2, v2 = rule(opt, lr, t, p, g, m, v)
        new_p.append(p2)
        if new_m is not None:
            assert m2 is not None
            new_m.append(m2)
        if new_v is not None:
            assert v2 is not None
            new_v.append(v2)
    if not (_finite(new_p) and _finite(new_m) and _finite(new_v)):
        return None
    return new_p, OptState(t, None if new_m is None else tuple(new_m),
                           None if new_v is None else tuple(new_v))
