"""One-step examples worked out by hand (the arithmetic is in the comments), and Matt Mazur's
published 2-2-2 example ("A Step by Step Backpropagation Example", 2015).

Every expected number is a literal derived on paper or with ``math``; the engine's output is
only ever the thing being checked.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.config import Settings
from app.sessions.config import SessionConfig, normalize
from app.sessions.model import Session
from tests.nn.reference import Cfg
from tests.nn.util import trainer


def sigma(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def one_step(t):
    """forward ×L, backward ×L, update — returning the trace of the pass before the update."""
    t.forward_all()
    t.backward_all()
    trace = t.trace
    assert t.phase == "update"
    assert t.update_step()
    return trace


# ---------------------------------------------------------------------------------------------
def test_1_1_1_sigmoid_hidden_linear_output():
    # x = 0.5, y = 1; W1 = 0.8, b1 = −0.2, W2 = 1.5, b2 = 0.1; η = 0.1; L = ½(ŷ − y)²
    cfg = Cfg((1, 1, 1), hidden="sigmoid", output="linear")
    t = trainer(cfg, [[[0.8]], [[1.5]]], [[-0.2], [0.1]], [[0.5]], [[1.0]], lr=0.1)
    tr = one_step(t)
    # z1 = 0.5·0.8 − 0.2 = 0.2
    z1 = 0.2
    # a1 = σ(0.2) = 1 / (1 + e^−0.2) = 0.549833997312478
    a1 = 0.549833997312478
    assert a1 == pytest.approx(sigma(z1), abs=1e-15)
    # z2 = 1.5·a1 + 0.1 = 0.9247509959687169 = ŷ (linear output)
    z2 = 0.9247509959687169
    assert z2 == pytest.approx(1.5 * a1 + 0.1, abs=1e-15)
    # L = ½(0.9247509959687169 − 1)² = ½·0.0752490040312831² = 0.00283120630385003
    loss = 0.00283120630385003
    assert loss == pytest.approx(0.5 * (z2 - 1.0) ** 2, abs=1e-17)
    # δ2 = (ŷ − y)·1 = −0.0752490040312831
    d2 = -0.0752490040312831
    # grad_W2 = a1·δ2 = −0.04137446068030315, grad_b2 = δ2
    gW2 = -0.04137446068030315
    assert gW2 == pytest.approx(a1 * d2, abs=1e-17)
    # δ1 = δ2·W2·σ'(z1) = δ2·1.5·a1(1 − a1) = −0.02793806336670619
    d1 = -0.02793806336670619
    assert d1 == pytest.approx(d2 * 1.5 * a1 * (1 - a1), abs=1e-17)
    # grad_W1 = x·δ1 = 0.5·δ1 = −0.013969031683353094, grad_b1 = δ1
    gW1 = -0.013969031683353094

    close = {"rel": 1e-13, "abs": 1e-16}
    assert tr.z[0][0, 0] == pytest.approx(z1, **close)
    assert tr.a[0][0, 0] == pytest.approx(a1, **close)
    assert tr.z[1][0, 0] == pytest.approx(z2, **close)
    assert tr.a[1][0, 0] == pytest.approx(z2, **close)
    assert tr.loss == pytest.approx(loss, **close)
    assert tr.delta[1][0, 0] == pytest.approx(d2, **close)
    assert tr.delta[0][0, 0] == pytest.approx(d1, **close)
    assert tr.grad_W[1][0, 0] == pytest.approx(gW2, **close)
    assert tr.grad_b[1][0] == pytest.approx(d2, **close)
    assert tr.grad_W[0][0, 0] == pytest.approx(gW1, **close)
    assert tr.grad_b[0][0] == pytest.approx(d1, **close)
    # W ← W − η·grad: W1 = 0.8 + 0.0013969031683353094 = 0.8013969031683353
    #                 b1 = −0.2 + 0.002793806336670619 = −0.1972061936633294
    #                 W2 = 1.5 + 0.004137446068030315 = 1.5041374460680303
    #                 b2 = 0.1 + 0.00752490040312831 = 0.10752490040312832
    assert t.net.W[0][0, 0] == pytest.approx(0.8013969031683353, **close)
    assert t.net.b[0][0] == pytest.approx(-0.1972061936633294, **close)
    assert t.net.W[1][0, 0] == pytest.approx(1.5041374460680303, **close)
    assert t.net.b[1][0] == pytest.approx(0.10752490040312832, **close)
    assert t.history.loss == [pytest.approx(loss, **close)]


@pytest.mark.parametrize("l2", [False, True], ids=["plain", "l2"])
def test_1_1_1_linear_two_samples_mean_exact(l2):
    # Every number below is a dyadic rational, so the engine must get them exactly.
    # X = [1, 2]ᵀ, Y = [0.5, 0]ᵀ; W1 = 0.5, b1 = 0.25, W2 = 2, b2 = −0.5; η = 0.125, mean.
    cfg = Cfg((1, 1, 1), hidden="linear", output="linear", reduction="mean",
              reg_kind="l2" if l2 else "none", reg_rate=0.5 if l2 else 0.0)
    t = trainer(cfg, [[[0.5]], [[2.0]]], [[0.25], [-0.5]], [[1.0], [2.0]], [[0.5], [0.0]],
                lr=0.125)
    tr = one_step(t)
    # z1 = [1·0.5 + 0.25, 2·0.5 + 0.25] = [0.75, 1.25] = a1
    assert tr.z[0].ravel().tolist() == [0.75, 1.25]
    assert tr.a[0].ravel().tolist() == [0.75, 1.25]
    # ŷ = 2·a1 − 0.5 = [1.0, 2.0]; errors ŷ − y = [0.5, 2.0]
    assert tr.a[1].ravel().tolist() == [1.0, 2.0]
    # ℓ = [½·0.25, ½·4] = [0.125, 2.0]; L = (0.125 + 2)/2 = 1.0625
    # l2: + ½·0.5·(0.5² + 2²) = ¼·4.25 = 1.0625 → 2.125
    assert tr.per_sample_loss.tolist() == [0.125, 2.0]
    assert tr.loss == (2.125 if l2 else 1.0625)
    # δ2 = err / N = [0.25, 1.0]
    assert tr.delta[1].ravel().tolist() == [0.25, 1.0]
    # grad_W2 = 0.75·0.25 + 1.25·1.0 = 1.4375 (+ 0.5·2 = 1 with l2 → 2.4375); grad_b2 = 1.25
    assert tr.grad_W[1].tolist() == [[2.4375 if l2 else 1.4375]]
    assert tr.grad_b[1].tolist() == [1.25]
    # δ1 = δ2·W2·1 = [0.5, 2.0]
    assert tr.delta[0].ravel().tolist() == [0.5, 2.0]
    # grad_W1 = 1·0.5 + 2·2.0 = 4.5 (+ 0.5·0.5 = 0.25 with l2 → 4.75); grad_b1 = 2.5
    assert tr.grad_W[0].tolist() == [[4.75 if l2 else 4.5]]
    assert tr.grad_b[0].tolist() == [2.5]
    # W1 = 0.5 − 0.125·4.5 = −0.0625   (l2: 0.5 − 0.125·4.75 = −0.09375)
    # b1 = 0.25 − 0.125·2.5 = −0.0625
    # W2 = 2 − 0.125·1.4375 = 1.8203125 (l2: 2 − 0.125·2.4375 = 1.6953125)
    # b2 = −0.5 − 0.125·1.25 = −0.65625  (biases are not regularized)
    assert t.net.W[0].tolist() == [[-0.09375 if l2 else -0.0625]]
    assert t.net.b[0].tolist() == [-0.0625]
    assert t.net.W[1].tolist() == [[1.6953125 if l2 else 1.8203125]]
    assert t.net.b[1].tolist() == [-0.65625]


def test_1_1_1_linear_sum_and_frozen_bias():
    # Same numbers, reduction sum, train_bias false: δ2 = err = [0.5, 2.0],
    # grad_W2 = 0.75·0.5 + 1.25·2 = 2.875, grad_b2 = 2.5, δ1 = 2·δ2 = [1, 4],
    # grad_W1 = 1·1 + 2·4 = 9, grad_b1 = 5; η = 0.125: W2 = 2 − 0.359375 = 1.640625,
    # W1 = 0.5 − 1.125 = −0.625, biases unchanged.
    cfg = Cfg((1, 1, 1), hidden="linear", output="linear", reduction="sum")
    t = trainer(cfg, [[[0.5]], [[2.0]]], [[0.25], [-0.5]], [[1.0], [2.0]], [[0.5], [0.0]],
                lr=0.125, train_bias=False)
    tr = one_step(t)
    assert tr.loss == 2.125  # 0.125 + 2
    assert tr.grad_W[1].tolist() == [[2.875]] and tr.grad_b[1].tolist() == [2.5]
    assert tr.grad_W[0].tolist() == [[9.0]] and tr.grad_b[0].tolist() == [5.0]
    assert t.net.W[1].tolist() == [[1.640625]] and t.net.W[0].tolist() == [[-0.625]]
    assert t.net.b[0].tolist() == [0.25] and t.net.b[1].tolist() == [-0.5]


def test_2_2_1_tanh_hidden_sigmoid_bce():
    # x = (1, −1), y = 1; W1 = [[0.5, −0.25], [0.25, 0.75]] (row i: from input i),
    # b1 = [0.1, −0.1]; W2 = [[1], [−1]], b2 = [0.2]; η = 0.5; BCE, sum.
    cfg = Cfg((2, 2, 1), hidden="tanh", output="sigmoid", loss="binary_cross_entropy")
    W1 = [[0.5, -0.25], [0.25, 0.75]]
    t = trainer(cfg, [W1, [[1.0], [-1.0]]], [[0.1, -0.1], [0.2]], [[1.0, -1.0]], [[1.0]], lr=0.5)
    tr = one_step(t)
    # z1 = [1·0.5 − 1·0.25 + 0.1, 1·(−0.25) − 1·0.75 − 0.1] = [0.35, −1.1]
    z1 = [0.35, -1.1]
    # a1 = tanh(z1) = [0.3363755443363322, −0.8004990217606297]
    a1 = [0.3363755443363322, -0.8004990217606297]
    assert a1 == pytest.approx([math.tanh(0.35), math.tanh(-1.1)], abs=1e-16)
    # z2 = a1·[1, −1] + 0.2 = 0.33637… + 0.80049… + 0.2 = 1.3368745660969619
    z2 = 1.3368745660969619
    # ŷ = σ(z2) = 0.7919754951119881; L = −log ŷ = 0.2332248281615454
    y_hat, loss = 0.7919754951119881, 0.2332248281615454
    assert y_hat == pytest.approx(sigma(z2), abs=1e-16)
    assert loss == pytest.approx(-math.log(sigma(z2)), abs=1e-16)
    # δ2 = ŷ − y = −0.20802450488801194 (sigmoid + BCE)
    d2 = -0.20802450488801194
    # grad_W2 = a1ᵀδ2 = [−0.06997435606700102, 0.16652341266509288], grad_b2 = δ2
    gW2 = [-0.06997435606700102, 0.16652341266509288]
    # δ1 = δ2·W2ᵀ ⊙ (1 − a1²) = [δ2·1·(1 − 0.33637…²), δ2·(−1)·(1 − 0.80049…²)]
    #    = [−0.18448684277639013, 0.07472267594936341]
    d1 = [-0.18448684277639013, 0.07472267594936341]
    assert d1 == pytest.approx([d2 * (1 - a1[0] ** 2), -d2 * (1 - a1[1] ** 2)], abs=1e-16)
    # grad_W1[i][j] = x_i·δ1_j = [[δ1_0, δ1_1], [−δ1_0, −δ1_1]], grad_b1 = δ1
    # new W2 = [1 + 0.5·0.06997…, −1 − 0.5·0.16652…] = [1.0349871780335005, −1.0832617063325465]
    # new b2 = 0.2 + 0.5·0.20802… = 0.304012252444006
    # new W1 = [[0.5 + 0.5·0.18448…, −0.25 − 0.5·0.07472…], [0.25 − 0.5·0.18448…, 0.75 + …]]
    #        = [[0.5922434213881951, −0.2873613379746817],
    #           [0.15775657861180492, 0.7873613379746817]]
    # new b1 = [0.19224342138819506, −0.1373613379746817]
    c = {"rel": 1e-13, "abs": 1e-16}
    assert tr.z[0].ravel().tolist() == pytest.approx(z1, **c)
    assert tr.a[0].ravel().tolist() == pytest.approx(a1, **c)
    assert tr.z[1][0, 0] == pytest.approx(z2, **c)
    assert tr.a[1][0, 0] == pytest.approx(y_hat, **c)
    assert tr.loss == pytest.approx(loss, **c)
    assert tr.delta[1][0, 0] == pytest.approx(d2, **c)
    assert tr.grad_W[1].ravel().tolist() == pytest.approx(gW2, **c)
    assert tr.grad_b[1].tolist() == pytest.approx([d2], **c)
    assert tr.delta[0].ravel().tolist() == pytest.approx(d1, **c)
    assert tr.grad_W[0].tolist() == [pytest.approx(d1, **c),
                                     pytest.approx([-d1[0], -d1[1]], **c)]
    assert tr.grad_b[0].tolist() == pytest.approx(d1, **c)
    assert t.net.W[1].ravel().tolist() == pytest.approx([1.0349871780335005,
                                                         -1.0832617063325465], **c)
    assert t.net.b[1].tolist() == pytest.approx([0.304012252444006], **c)
    assert t.net.W[0].tolist() == [
        pytest.approx([0.5922434213881951, -0.2873613379746817], **c),
        pytest.approx([0.15775657861180492, 0.7873613379746817], **c),
    ]
    assert t.net.b[0].tolist() == pytest.approx([0.19224342138819506, -0.1373613379746817], **c)


# ---------------------------------------------------------------------------------------------
# Matt Mazur, "A Step by Step Backpropagation Example" (2015). His weights map onto our
# row-vector W[l] (n_{l-1} × n_l, W1[i][j] = weight from input i to hidden j):
#   w1: i1→h1, w2: i2→h1, w3: i1→h2, w4: i2→h2  ⇒  W1 = [[w1, w3], [w2, w4]]
#   w5: h1→o1, w6: h2→o1, w7: h1→o2, w8: h2→o2  ⇒  W2 = [[w5, w7], [w6, w8]]
# b1 = 0.35 for both hidden units, b2 = 0.60 for both outputs; he never updates the biases.
# E_total = Σ ½(target − out)² — our squared_error with reduction "sum".
MAZUR_W1 = [[0.15, 0.25], [0.20, 0.30]]
MAZUR_W2 = [[0.40, 0.50], [0.45, 0.55]]
MAZUR_B = [[0.35, 0.35], [0.60, 0.60]]
MAZUR_X, MAZUR_Y = [[0.05, 0.10]], [[0.01, 0.99]]
# His published numbers (9 significant digits; he rounds, so we compare to 5e-9 absolute).
MAZUR = {
    "net_h1": 0.3775,
    "out_h1": 0.593269992,
    "out_h2": 0.596884378,
    "net_o1": 1.105905967,
    "out_o1": 0.75136507,
    "out_o2": 0.772928465,
    "E_o1": 0.274811083,
    "E_o2": 0.023560026,
    "E_total": 0.298371109,
    "dE/dw5": 0.082167041,
    "dE/dw1": 0.000438568,
    "w5": 0.35891648,
    "w6": 0.408666186,
    "w7": 0.511301270,
    "w8": 0.561370121,
    "w1": 0.149780716,
    "w2": 0.19956143,
    "w3": 0.24975114,
    "w4": 0.29950229,
}


def _check_mazur(W1, W2, b, trace):
    tol = {"abs": 5e-9}
    z0, a0 = trace.z[0][0], trace.a[0][0]
    assert z0[0] == pytest.approx(MAZUR["net_h1"], abs=1e-15)  # 0.15·0.05 + 0.2·0.1 + 0.35
    assert a0.tolist() == pytest.approx([MAZUR["out_h1"], MAZUR["out_h2"]], **tol)
    assert trace.z[1][0, 0] == pytest.approx(MAZUR["net_o1"], **tol)
    assert trace.a[1][0].tolist() == pytest.approx([MAZUR["out_o1"], MAZUR["out_o2"]], **tol)
    assert trace.per_sample_loss.tolist() == pytest.approx([MAZUR["E_total"]], **tol)
    assert trace.loss == pytest.approx(MAZUR["E_o1"] + MAZUR["E_o2"], abs=1e-8)
    assert trace.loss == pytest.approx(MAZUR["E_total"], **tol)
    # ∂E/∂w5 is grad_W2[h1][o1]; ∂E/∂w1 is grad_W1[i1][h1].
    assert trace.grad_W[1][0, 0] == pytest.approx(MAZUR["dE/dw5"], **tol)
    assert trace.grad_W[0][0, 0] == pytest.approx(MAZUR["dE/dw1"], **tol)
    # After one update with η = 0.5:
    assert W2[0, 0] == pytest.approx(MAZUR["w5"], **tol)
    assert W2[1, 0] == pytest.approx(MAZUR["w6"], **tol)
    assert W2[0, 1] == pytest.approx(MAZUR["w7"], **tol)
    assert W2[1, 1] == pytest.approx(MAZUR["w8"], **tol)
    assert W1[0, 0] == pytest.approx(MAZUR["w1"], **tol)
    assert W1[1, 0] == pytest.approx(MAZUR["w2"], **tol)
    assert W1[0, 1] == pytest.approx(MAZUR["w3"], **tol)
    assert W1[1, 1] == pytest.approx(MAZUR["w4"], **tol)
    # Frozen biases.
    assert [v.tolist() for v in b] == MAZUR_B


def test_mazur_worked_example_engine():
    cfg = Cfg((2, 2, 2), hidden="sigmoid", output="sigmoid")
    t = trainer(cfg, [MAZUR_W1, MAZUR_W2], MAZUR_B, MAZUR_X, MAZUR_Y, lr=0.5, train_bias=False)
    trace = one_step(t)
    _check_mazur(t.net.W[0], t.net.W[1], t.net.b, trace)


def test_mazur_worked_example_by_hand_with_math():
    # The same numbers from the formulas, to show the mapping is his: out_h1 = σ(net_h1) etc.
    net_h1 = 0.15 * 0.05 + 0.20 * 0.10 + 0.35
    net_h2 = 0.25 * 0.05 + 0.30 * 0.10 + 0.35
    h1, h2 = sigma(net_h1), sigma(net_h2)
    o1, o2 = sigma(0.40 * h1 + 0.45 * h2 + 0.60), sigma(0.50 * h1 + 0.55 * h2 + 0.60)
    e_total = 0.5 * (0.01 - o1) ** 2 + 0.5 * (0.99 - o2) ** 2
    assert e_total == pytest.approx(MAZUR["E_total"], abs=5e-9)
    d_o1 = (o1 - 0.01) * o1 * (1 - o1)
    d_o2 = (o2 - 0.99) * o2 * (1 - o2)
    assert 0.40 - 0.5 * d_o1 * h1 == pytest.approx(MAZUR["w5"], abs=5e-9)
    d_h1 = (d_o1 * 0.40 + d_o2 * 0.50) * h1 * (1 - h1)
    assert 0.15 - 0.5 * d_h1 * 0.05 == pytest.approx(MAZUR["w1"], abs=5e-9)


def test_mazur_worked_example_preset():
    """The worked-example preset through the sessions layer gives his numbers too."""
    settings = Settings()
    config = normalize(SessionConfig(preset="worked-example"), settings)
    t = Session.create(config, settings).trainer
    trace = one_step(t)
    _check_mazur(t.net.W[0], t.net.W[1], t.net.b, trace)
    assert np.array_equal(t.data.X, np.array(MAZUR_X))
