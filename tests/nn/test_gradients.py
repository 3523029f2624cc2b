"""Backprop against central finite differences, for every hidden activation × output/loss ×
reduction × regularization × bias × depth.

Two finite-difference estimates are used: the engine's own ``gradcheck`` and an independent
central-difference loop over the reference objective in tests/nn/reference.py. Random problems
are resampled until no ReLU-type pre-activation and no weight (the l1 kink) is within 1e-3 of
0, so that ε = 1e-6 never straddles a kink.

Tolerances: with ε = 1e-6 the central difference has a truncation error ~ε²·|L'''| ≈ 1e-12 and
a rounding error ~2e-16·|L|/ε ≈ 2e-10·|L|, so rtol 1e-5 with atol max(1e-8, 1e-9·|L|) leaves a
wide margin while still catching any wrong factor or sign.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.nn.gradcheck import gradcheck
from tests.nn import reference as ref
from tests.nn.reference import HIDDEN, OUTPUT_IDS, OUTPUTS, REGULARIZATIONS, Cfg
from tests.nn.util import engine_grads, network

DEPTHS = {2: (3, 2), 3: (2, 3, 2), 4: (2, 3, 2, 2)}
EPS = 1e-6


def _rel_error(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-6)))


@pytest.mark.parametrize("depth", sorted(DEPTHS), ids=lambda d: f"{d}layers")
@pytest.mark.parametrize("output", OUTPUTS, ids=OUTPUT_IDS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_backprop_matches_finite_differences(hidden, output, depth):
    out_act, loss, target_kind = output
    combos = itertools.product(("sum", "mean"), REGULARIZATIONS, (True, False))
    for k, (reduction, (reg_kind, reg_rate), bias) in enumerate(combos):
        cfg = Cfg(DEPTHS[depth], hidden=hidden, output=out_act, loss=loss, reduction=reduction,
                  bias=bias, reg_kind=reg_kind, reg_rate=reg_rate)
        where = f"{reduction}/{reg_kind}/bias={bias}"
        Ws, bs, X, Y = ref.random_problem(cfg, target_kind, seed=depth * 100 + k)
        net = network(cfg, Ws, bs)

        # The engine's objective is the reference objective.
        zs, acts = net.forward(X)
        value, _ = net.objective(acts[-1], Y, zs[-1])
        assert value == pytest.approx(ref.objective(cfg, Ws, bs, X, Y), rel=1e-12, abs=1e-14), where

        atol = max(1e-8, 1e-9 * abs(value))  # FD rounding noise grows with |L|
        gW, gb = engine_grads(net, X, Y)
        nW, nb = ref.numeric_grads(cfg, Ws, bs, X, Y, eps=EPS)
        for l in range(cfg_L := len(Ws)):
            assert gW[l].shape == Ws[l].shape
            np.testing.assert_allclose(gW[l], nW[l], rtol=1e-5, atol=atol,
                                       err_msg=f"grad_W[{l + 1}] {where}")
        if bias:
            for l in range(cfg_L):
                np.testing.assert_allclose(gb[l], nb[l], rtol=1e-5, atol=atol,
                                           err_msg=f"grad_b[{l + 1}] {where}")
        else:
            assert gb == [None] * cfg_L

        # The engine's gradcheck: its numeric gradient is the same central difference, and its
        # reported error is the documented relative error of backprop vs that difference.
        checks = gradcheck(net, X, Y, epsilon=EPS)
        assert len(checks) == cfg_L
        for l, c in enumerate(checks):
            np.testing.assert_allclose(c.grad_W_numeric, nW[l], rtol=1e-6, atol=atol,
                                       err_msg=f"gradcheck grad_W_numeric[{l + 1}] {where}")
            np.testing.assert_allclose(c.grad_W, nW[l], rtol=1e-5, atol=atol)
            expected = _rel_error(c.grad_W, c.grad_W_numeric)
            if bias:
                np.testing.assert_allclose(c.grad_b_numeric, nb[l], rtol=1e-6, atol=atol,
                                           err_msg=f"gradcheck grad_b_numeric[{l + 1}] {where}")
                expected = max(expected, _rel_error(c.grad_b, c.grad_b_numeric))
            else:
                assert c.grad_b is None and c.grad_b_numeric is None
            assert c.max_rel_error == pytest.approx(expected, rel=1e-12, abs=0)
            # The metric's 1e-6 floor turns FD noise on a ~1e-7 gradient into ~1e-4, so only a
            # loose bound here; the allclose checks above are the precise ones.
            assert c.max_rel_error < 1e-2, where
        # gradcheck leaves the network untouched.
        for W, W0 in zip(net.W, Ws, strict=True):
            assert np.array_equal(W, W0)


def test_gradcheck_flags_a_wrong_gradient():
    """The check is not vacuous: a network whose backward is off by a factor is caught."""
    cfg = Cfg((2, 3, 1), hidden="tanh", output="sigmoid")
    Ws, bs, X, Y = ref.random_problem(cfg, "real", seed=7)
    net = network(cfg, Ws, bs)
    good = max(c.max_rel_error for c in gradcheck(net, X, Y))
    assert good < 1e-6

    class Wrong(type(net)):  # type: ignore[misc]
        def layer_grads(self, l, a_prev, delta):
            gW, gb = super().layer_grads(l, a_prev, delta)
            return gW * 1.01, gb

    wrong = Wrong(net.spec, net.W, net.b)
    bad = max(c.max_rel_error for c in gradcheck(wrong, X, Y))
    assert bad > 1e-3


def test_gradcheck_rel_error_floor():
    """Tiny gradients are compared absolutely: |g − ĝ| / max(|g| + |ĝ|, 1e-6)."""
    from app.nn.gradcheck import rel_error

    assert rel_error(np.array([1e-12]), np.array([3e-12])) == pytest.approx(2e-12 / 1e-6)
    assert rel_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 2.1)
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0
