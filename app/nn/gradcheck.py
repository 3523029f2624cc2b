"""Central finite differences against backprop, at the current weights (nothing is changed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.nn.activations import Array
from app.nn.network import Network, quiet

# Below this scale a difference counts as absolute: finite differences carry an absolute
# rounding noise of about eps_machine · |L| / epsilon ≈ 1e-10, so tiny gradients are compared
# absolutely rather than relatively.
REL_FLOOR = 1e-6


@dataclass
class LayerCheck:
    grad_W: Array
    grad_W_numeric: Array
    grad_b: Array | None
    grad_b_numeric: Array | None
    max_rel_error: float


def rel_error(a: Array, b: Array) -> float:
    if a.size == 0:
        return 0.0
    denom = np.maximum(np.abs(a) + np.abs(b), REL_FLOOR)
    return float(np.max(np.abs(a - b) / denom))


def n_evaluations(net: Network, n_samples: int) -> int:
    """Forward-pass work of a check: two passes per parameter, each over every sample."""
    n_params = sum(W.size for W in net.W) + sum(b.size for b in net.b or [])
    return 2 * n_params * n_samples


class GradcheckStopped(Exception):
    """``should_stop`` said stop (a time budget ran out, or the client went away)."""


@quiet
def gradcheck(net: Network, X: Array, Y: Array, epsilon: float = 1e-6,
              should_stop: Callable[[], bool] | None = None) -> list[LayerCheck]:
    """``should_stop`` is asked before every parameter's pair of forward passes."""
    zs, acts = net.forward(X)
    _, grad_W, grad_b = net.backward(zs, acts, Y)
    probe = net.copy()

    def objective() -> float:
        z, a = probe.forward(X)
        return probe.objective(a[-1], Y, z[-1])[0]

    def numeric(param: Array) -> Array:
        out = np.empty_like(param)
        flat, flat_out = param.reshape(-1), out.reshape(-1)
        for i in range(flat.size):
            if should_stop is not None and should_stop():
                raise GradcheckStopped
            old = flat[i]
            flat[i] = old + epsilon
            plus = objective()
            flat[i] = old - epsilon
            minus = objective()
            flat[i] = old
            flat_out[i] = (plus - minus) / (2.0 * epsilon)
        return out

    checks = []
    for l in range(net.spec.L):
        gW_num = numeric(probe.W[l])
        gb, gb_num = grad_b[l], None
        err = rel_error(grad_W[l], gW_num)
        if probe.b is not None and gb is not None:
            gb_num = numeric(probe.b[l])
            err = max(err, rel_error(gb, gb_num))
        checks.append(LayerCheck(grad_W[l], gW_num, gb, gb_num, err))
    return checks
