"""Backprop against an independent autograd library (HIPS autograd).

The forward pass and the objective of API.md §1 are written here in ``autograd.numpy`` and
differentiated by reverse-mode AD; the engine's grad_W / grad_b must agree to 1e-7 relative on
random networks of every supported kind: hidden activation × output/loss × reduction ×
regularization × bias on/off × depth 2–5 (entries of ``layers``).
"""

from __future__ import annotations

import itertools

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from tests.nn import reference as ref
from tests.nn.reference import HIDDEN, OUTPUT_IDS, OUTPUTS, REGULARIZATIONS, Cfg
from tests.nn.util import engine_grads, network

# autograd has emitted DeprecationWarnings under newer NumPy; tolerate those from autograd's own
# modules only (the engine's RuntimeWarnings still fail the test).
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:autograd(\..*)?")

DEPTHS = {2: (4, 3), 3: (3, 5, 3), 4: (3, 5, 4, 3), 5: (2, 4, 5, 3, 3)}


def ag_act(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + anp.exp(-z))
    if name == "tanh":
        return anp.tanh(z)
    if name == "relu":
        return anp.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return anp.where(z > 0, z, 0.01 * z)
    if name == "linear":
        return z
    if name == "softmax":
        e = anp.exp(z - anp.max(z, axis=1, keepdims=True))
        return e / anp.sum(e, axis=1, keepdims=True)
    raise ValueError(name)


def ag_objective(cfg: Cfg, X, Y):
    """L(params) with params = (Ws, bs). The cross-entropies are written from the logits z
    (log σ(z) = −log(1 + e^−z), log softmax = z − logsumexp z): the naive log(1 − σ(z))
    loses ~1e-9 to cancellation when σ(z) ≈ 1, which is the reference's error, not the
    engine's."""

    def L(params):
        Ws, bs = params
        a = X
        for l, W in enumerate(Ws):
            z = anp.dot(a, W)
            if cfg.bias:
                z = z + bs[l]
            a = ag_act(cfg.output if l == len(Ws) - 1 else cfg.hidden, z)
        if cfg.loss == "squared_error":
            ell = 0.5 * anp.sum((a - Y) ** 2, axis=1)
        elif cfg.loss == "binary_cross_entropy":
            log_p, log_1mp = -anp.logaddexp(0.0, -z), -anp.logaddexp(0.0, z)
            ell = -anp.sum(Y * log_p + (1.0 - Y) * log_1mp, axis=1)
        else:
            m = anp.max(z, axis=1, keepdims=True)
            log_p = z - m - anp.log(anp.sum(anp.exp(z - m), axis=1, keepdims=True))
            ell = -anp.sum(Y * log_p, axis=1)
        total = anp.sum(ell)
        if cfg.reduction == "mean":
            total = total / X.shape[0]
        if cfg.reg_kind == "l2":
            total = total + 0.5 * cfg.reg_rate * sum(anp.sum(W * W) for W in Ws)
        elif cfg.reg_kind == "l1":
            total = total + cfg.reg_rate * sum(anp.sum(anp.abs(W)) for W in Ws)
        return total

    return L


def check_against_autograd(cfg: Cfg, target_kind: str, seed: int, n: int = 6,
                           attempts: int = 200) -> None:
    Ws, bs, X, Y = ref.random_problem(cfg, target_kind, seed=seed, n=n, attempts=attempts)
    L = ag_objective(cfg, X, Y)
    params = (Ws, bs if cfg.bias else [np.zeros(k) for k in cfg.layers[1:]])
    ag_W, ag_b = grad(L)(params)
    net = network(cfg, Ws, bs)
    zs, acts = net.forward(X)
    value, _ = net.objective(acts[-1], Y, zs[-1])
    assert value == pytest.approx(float(L(params)), rel=1e-12, abs=1e-15)
    gW, gb = engine_grads(net, X, Y)
    # rounding floor: entries that cancel down to ~1e-16 of the gradient's scale carry no
    # relative information, so they are compared absolutely at 1e-13 of that scale.
    scale = max(1.0, *(float(np.max(np.abs(g))) for g in ag_W))
    where = f"{cfg}"
    for l in range(len(Ws)):
        np.testing.assert_allclose(gW[l], ag_W[l], rtol=1e-7, atol=1e-13 * scale,
                                   err_msg=f"grad_W[{l + 1}] {where}")
        if cfg.bias:
            np.testing.assert_allclose(gb[l], ag_b[l], rtol=1e-7, atol=1e-13 * scale,
                                       err_msg=f"grad_b[{l + 1}] {where}")
        else:
            assert gb[l] is None


@pytest.mark.parametrize("output", OUTPUTS, ids=OUTPUT_IDS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_grads_match_autograd(hidden, output):
    """Every reduction × regularization × bias for this pair, at depths 2, 3, 4 and 5 in turn
    (shifted per pair, so that every depth meets every combination across the matrix; the full
    product at all depths is the finite-difference test's job)."""
    out_act, loss, target_kind = output
    shift = HIDDEN.index(hidden) + OUTPUTS.index(output)
    depths = sorted(DEPTHS)
    combos = itertools.product(("sum", "mean"), REGULARIZATIONS, (True, False))
    for k, (reduction, (reg_kind, reg_rate), bias) in enumerate(combos):
        depth = depths[(k + shift + k // 4) % len(depths)]
        cfg = Cfg(DEPTHS[depth], hidden=hidden, output=out_act, loss=loss, reduction=reduction,
                  bias=bias, reg_kind=reg_kind, reg_rate=reg_rate)
        check_against_autograd(cfg, target_kind, seed=500 + k)


@settings(max_examples=40, deadline=None)
@given(
    layers=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple),
    n_out=st.integers(2, 4),
    hidden=st.sampled_from(HIDDEN),
    output=st.sampled_from(OUTPUTS),
    reduction=st.sampled_from(("sum", "mean")),
    reg=st.sampled_from(REGULARIZATIONS),
    bias=st.booleans(),
    n=st.integers(1, 8),
    seed=st.integers(0, 10_000),
)
def test_grads_match_autograd_random_architectures(
    layers, n_out, hidden, output, reduction, reg, bias, n, seed
):
    out_act, loss, target_kind = output
    cfg = Cfg((*layers, n_out), hidden=hidden, output=out_act, loss=loss, reduction=reduction,
              bias=bias, reg_kind=reg[0], reg_rate=reg[1])
    try:
        check_against_autograd(cfg, target_kind, seed=seed, n=n, attempts=20)
    except ref.NoKinkFreeSample:
        reject()  # a dead ReLU stack without biases: the gradient is undefined at the kink
