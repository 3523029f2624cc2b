"""Numerical stability at saturated pre-activations, and divergence refusal.

pytest runs with filterwarnings=error, so any overflow/invalid-value RuntimeWarning from NumPy
fails these tests outright.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from app.nn import kernel_slot
from app.nn.gradcheck import gradcheck
from app.nn.stepper import Trainer
from tests.nn import reference as ref
from tests.nn.reference import Cfg
from tests.nn.util import trainer

BIG = 1000.0


def run_steps(t: Trainer) -> None:
    t.forward_all()
    assert t.phase == "backward"
    t.backward_all()
    assert t.phase == "update"
    assert t.update_step()


def all_finite(t: Trainer) -> bool:
    arrays = list(t.net.W) + list(t.net.b or [])
    return all(np.all(np.isfinite(a)) for a in arrays)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_sigmoid_output_saturated_squared_error(sign):
    # z = x·W = ±1000: σ(1000) = 1 and σ(−1000) = 1/(1 + e^1000) = 0 without a warning.
    # Targets opposite to the outputs: L = ½(1² + 1²) = 1, and δ = (ŷ − y)·ŷ(1 − ŷ) = 0.
    cfg = Cfg((1, 2), output="sigmoid", bias=False)
    y = [[0.0, 1.0]] if sign > 0 else [[1.0, 0.0]]
    t = trainer(cfg, [[[sign * BIG, -sign * BIG]]], None, [[1.0]], y, lr=0.1)
    t.forward_all()
    assert t.trace.a[0].tolist() == ([[1.0, 0.0]] if sign > 0 else [[0.0, 1.0]])
    assert t.trace.loss == 1.0
    t.backward_all()
    assert t.trace.delta[0].tolist() == [[0.0, 0.0]]
    assert t.update_step()
    assert t.run(5) == (5, None)
    assert t.history.loss == [1.0] * 6 and t.status == "ok"


def test_sigmoid_hidden_saturated():
    # Hidden z = ±1000 saturates to exactly 1 and 0; the output sees a = [1, 0].
    cfg = Cfg((1, 2, 1), hidden="sigmoid", output="sigmoid", bias=False)
    t = trainer(cfg, [[[BIG, -BIG]], [[0.5], [0.25]]], None, [[1.0]], [[1.0]], lr=0.5)
    t.forward_all()
    assert t.trace.a[0].tolist() == [[1.0, 0.0]]
    # ŷ = σ(0.5·1 + 0.25·0) = σ(0.5); L = ½(1 − σ(0.5))²
    s = 1 / (1 + math.exp(-0.5))
    assert t.trace.loss == pytest.approx(0.5 * (1 - s) ** 2, rel=1e-15)
    t.backward_all()
    assert t.update_step()
    assert t.run(10) == (10, None)
    assert all_finite(t) and all(math.isfinite(v) for v in t.history.loss)


@pytest.mark.parametrize(
    ("w", "y", "loss", "delta"),
    [
        # −[y log σ(z) + (1 − y) log(1 − σ(z))] = softplus(z) − y·z, δ = σ(z) − y
        (BIG, 0.0, 1000.0, 1.0),  # softplus(1000) = 1000 (+ log1p(e^−1000) = 0)
        (BIG, 1.0, 0.0, 0.0),  # softplus(1000) − 1000 = 0
        (-BIG, 1.0, 1000.0, -1.0),  # softplus(−1000) + 1000 = 1000
        (-BIG, 0.0, 0.0, 0.0),  # softplus(−1000) = e^−1000 = 0
    ],
)
def test_bce_saturated(w, y, loss, delta):
    cfg = Cfg((1, 1), output="sigmoid", loss="binary_cross_entropy", bias=False)
    t = trainer(cfg, [[[w]]], None, [[1.0]], [[y]], lr=1e-3)
    t.forward_all()
    assert t.trace.loss == loss
    t.backward_all()
    assert t.trace.delta[0].tolist() == [[delta]]
    assert t.trace.grad_W[0].tolist() == [[delta]]  # x = 1
    assert t.update_step()
    # W ← W − 1e-3·δ
    assert t.net.W[0].tolist() == [[w - 1e-3 * delta]]
    assert t.run(3)[1] is None
    assert all(math.isfinite(v) for v in t.history.loss)


def test_cross_entropy_softmax_saturated():
    # z = [1000, −1000]: softmax = [1, 0] (shifted by the max, no overflow);
    # y = [0, 1]: L = −log softmax_2 = −(−1000 − 1000 − log(1 + e^−2000)) = 2000; δ = ŷ − y.
    cfg = Cfg((1, 2), output="softmax", loss="cross_entropy", bias=False)
    t = trainer(cfg, [[[BIG, -BIG]]], None, [[1.0]], [[0.0, 1.0]], lr=1e-3)
    t.forward_all()
    assert t.trace.a[0].tolist() == [[1.0, 0.0]]
    assert t.trace.loss == 2000.0
    t.backward_all()
    assert t.trace.delta[0].tolist() == [[1.0, -1.0]]
    assert t.update_step()
    assert t.net.W[0].tolist() == [[BIG - 1e-3, -BIG + 1e-3]]
    assert t.run(3)[1] is None and all(math.isfinite(v) for v in t.history.loss)


@pytest.mark.parametrize("output,loss,y", [
    ("softmax", "squared_error", [[0.0, 1.0, 0.0]]),
    ("softmax", "cross_entropy", [[0.2, 0.3, 0.5]]),
    ("sigmoid", "binary_cross_entropy", [[0.0, 1.0, 0.5]]),
    ("sigmoid", "squared_error", [[0.0, 1.0, 0.5]]),
    ("tanh", "squared_error", [[0.0, 1.0, 0.5]]),
])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
def test_huge_pre_activations_everywhere(hidden, output, loss, y):
    """±1000-scale pre-activations in every layer: no warnings, finite losses through the
    steps, run() and gradcheck, and the loss equals the reference objective."""
    cfg = Cfg((2, 3, 3), hidden=hidden, output=output, loss=loss, reduction="mean")
    W1 = [[900.0, -1100.0, 1000.0], [-800.0, 1200.0, 1000.0]]
    W2 = [[1000.0, -1000.0, 300.0], [-700.0, 1000.0, -1000.0], [1000.0, 500.0, -1000.0]]
    b = [[10.0, -10.0, 0.5], [0.0, -5.0, 5.0]]
    X = [[1.0, -1.0], [-1.0, 0.5], [0.25, 0.75]]
    Y = y * 3
    t = trainer(cfg, [W1, W2], b, X, Y, lr=1e-4)
    t.forward_all()
    expected = ref.objective(cfg, [np.array(W1), np.array(W2)], [np.array(v) for v in b],
                             np.array(X), np.array(Y))
    assert math.isfinite(t.trace.loss)
    assert t.trace.loss == pytest.approx(expected, rel=1e-12)
    t.backward_all()
    assert t.update_step()
    assert t.run(5) == (5, None)
    assert all(math.isfinite(v) for v in t.history.loss) and all_finite(t)
    checks = gradcheck(t.net, t.data.X, t.data.Y)
    for c in checks:
        assert np.all(np.isfinite(c.grad_W_numeric)) and np.all(np.isfinite(c.grad_W))


# --- divergence --------------------------------------------------------------------------------
def reference_until_divergence(Ws, bs, X, Y, cfg, lr, max_epochs):
    """The independent loop: step until the loss or any new weight is not finite; returns the
    last finite weights, the losses of the completed epochs."""
    losses = []
    with np.errstate(all="ignore"):
        for _ in range(max_epochs):
            loss, gW, gb = ref.backprop(cfg, Ws, bs, X, Y)
            if not math.isfinite(loss):
                break
            new_W = [W - lr * g for W, g in zip(Ws, gW, strict=True)]
            new_b = None if bs is None else [b - lr * g for b, g in zip(bs, gb, strict=True)]
            if not all(np.all(np.isfinite(a)) for a in new_W + (new_b or [])):
                break
            Ws, bs = new_W, new_b
            losses.append(loss)
    return Ws, bs, losses


LINEAR = Cfg((1, 1), output="linear")
# w ← w − η·Σ x(wx + b − y)x: with η·Σx² = 5 each step multiplies the error by about −4, so
# ½Σ(ŷ − y)² overflows to inf after ~250 epochs.
DIVERGING = dict(Ws=[[[1.0]]], bs=[[0.0]], X=[[1.0], [2.0]], Y=[[1.0], [0.0]], lr=1.0)


def test_run_stops_diverged_with_last_finite_weights():
    d = DIVERGING
    Ws, bs, X, Y = (np.array(d[k], dtype=float) for k in ("Ws", "bs", "X", "Y"))
    ref_W, ref_b, ref_losses = reference_until_divergence(list(Ws), list(bs), X, Y, LINEAR,
                                                          d["lr"], 10_000)
    assert 100 < len(ref_losses) < 1000
    t = trainer(LINEAR, d["Ws"], d["bs"], d["X"], d["Y"], lr=d["lr"])
    ran, stopped = t.run(10_000)
    assert (ran, stopped) == (len(ref_losses), "diverged")
    assert t.status == "diverged" and t.epoch == ran
    assert (t.phase, t.layer, t.trace) == ("forward", 1, None)
    assert all_finite(t)
    np.testing.assert_allclose(t.net.W[0], ref_W[0], rtol=1e-9)
    np.testing.assert_allclose(t.net.b[0], ref_b[0], rtol=1e-9)
    np.testing.assert_allclose(t.history.loss, ref_losses, rtol=1e-9)
    # Stepping one layer at a time until a step is refused ends on the same bits.
    s = trainer(LINEAR, d["Ws"], d["bs"], d["X"], d["Y"], lr=d["lr"])
    while s.step():
        pass
    assert s.status == "diverged" and (s.phase, s.layer) == ("forward", 1)
    if kernel_slot.default() == "numpy":  # bit for bit; the compiled kernel to 1e-12
        assert np.array_equal(s.net.W[0], t.net.W[0]) and np.array_equal(s.net.b[0], t.net.b[0])
        assert s.history.loss == t.history.loss
        assert s.last_loss == t.last_loss  # the loss of the last completed forward pass
    else:
        np.testing.assert_allclose(s.net.W[0], t.net.W[0], rtol=1e-12)
        np.testing.assert_allclose(s.history.loss, t.history.loss, rtol=1e-12)
        assert s.last_loss == pytest.approx(t.last_loss, rel=1e-12)
    # Running again refuses at once and changes nothing.
    W_before = t.net.W[0].copy()
    assert t.run(10) == (0, "diverged")
    assert np.array_equal(t.net.W[0], W_before) and t.status == "diverged"


def test_run_diverges_mid_epoch_with_minibatches():
    cfg = Cfg((2, 3, 1), "linear", "linear")
    rng = np.random.RandomState(4)
    Ws = [rng.normal(0, 1, (2, 3)), rng.normal(0, 1, (3, 1))]
    bs = [np.zeros(3), np.zeros(1)]
    X, Y = rng.normal(0, 3, (7, 2)), rng.normal(0, 1, (7, 1))
    t = trainer(cfg, Ws, bs, X, Y, lr=0.5, batch_size=3, shuffle_seed=9)
    ran, stopped = t.run(10_000)
    assert stopped == "diverged" and t.status == "diverged" and ran == t.epoch < 10_000
    # The independent loop over the same batches, until the first non-finite step.
    rW, rb = Ws, bs
    batches = 0
    with np.errstate(all="ignore"):
        for epoch in range(10_000):
            perm = t.permutation(epoch)
            done = False
            for start in range(0, 7, 3):
                idx = perm[start : start + 3]
                loss, gW, gb = ref.backprop(cfg, rW, rb, X[idx], Y[idx])
                nW = [W - 0.5 * g for W, g in zip(rW, gW, strict=True)]
                nb = [b - 0.5 * g for b, g in zip(rb, gb, strict=True)]
                if not math.isfinite(loss) or not all(np.all(np.isfinite(a)) for a in nW + nb):
                    done = True
                    break
                rW, rb, batches = nW, nb, batches + 1
            if done:
                break
    assert t.iteration == batches and t.epoch == batches // 3
    assert t.batch_pos == batches % 3
    for W, Wr in zip(t.net.W, rW, strict=True):
        np.testing.assert_allclose(W, Wr, rtol=1e-6)
    for b, br in zip(t.net.b, rb, strict=True):
        np.testing.assert_allclose(b, br, rtol=1e-6)
    assert all_finite(t)


def test_refused_update_leaves_weights_and_resets_cursor():
    # x = 1e150, w = 1: ŷ = 1e150, L = ½·1e300 (finite), grad_W = x·(ŷ − y) = 1e300 (finite),
    # but η·grad = 1e10·1e300 = inf: the update is refused.
    cfg = Cfg((1, 1), output="linear", bias=False)
    t = trainer(cfg, [[[1.0]]], None, [[1e150]], [[0.0]], lr=1e10)
    t.forward_all()
    assert t.trace.loss == pytest.approx(0.5e300)
    t.backward_all()
    assert t.trace.grad_W[0][0, 0] == pytest.approx(1e300)
    assert t.phase == "update"
    assert t.update_step() is False
    assert t.status == "diverged"
    assert (t.phase, t.layer, t.trace) == ("forward", 1, None)
    assert t.net.W[0].tolist() == [[1.0]]
    assert (t.epoch, t.iteration, t.history.loss) == (0, 0, [])
    # run() refuses the same update.
    assert t.run(3) == (0, "diverged")
    assert t.net.W[0].tolist() == [[1.0]] and t.history.loss == []


def test_refused_forward_step_at_hidden_layer():
    # z1 = 1e300·1e10 = inf at layer 1 of 2: refused before the loss.
    cfg = Cfg((1, 1, 1), hidden="linear", output="linear", bias=False)
    t = trainer(cfg, [[[1e10]], [[1.0]]], None, [[1e300]], [[0.0]], lr=0.1)
    assert t.forward_step() is False
    assert t.status == "diverged" and (t.phase, t.layer, t.trace) == ("forward", 1, None)
    assert t.net.W[0].tolist() == [[1e10]] and t.net.W[1].tolist() == [[1.0]]
    assert t.run(1) == (0, "diverged")
    assert t.net.W[0].tolist() == [[1e10]]


def test_refused_loss_step():
    # z = 1e200 is finite but ½·(1e200)² = inf: the forward pass's last layer is refused.
    cfg = Cfg((1, 1, 1), hidden="linear", output="linear", bias=False)
    t = trainer(cfg, [[[1e100]], [[1.0]]], None, [[1e100]], [[0.0]], lr=0.1)
    assert t.forward_step() is True and t.layer == 2
    assert t.forward_step() is False
    assert t.status == "diverged" and (t.phase, t.layer, t.trace) == ("forward", 1, None)
    assert t.net.W[0].tolist() == [[1e100]]


def test_status_recovers_after_a_good_step():
    # After a refusal, lowering the learning rate lets training go on; status is "ok" again.
    cfg = Cfg((1, 1), output="linear", bias=False)
    t = trainer(cfg, [[[1.0]]], None, [[1e150]], [[0.0]], lr=1e10)
    assert t.run(1) == (0, "diverged")
    t.hyper = replace(t.hyper, learning_rate=1e-301)  # η·grad = 1e-301·1e300 = 0.1 → w = 0.9
    assert t.run(1) == (1, None)
    assert t.status == "ok"
    assert t.net.W[0][0, 0] == pytest.approx(0.9, rel=1e-12)


def test_last_output_after_loss_refusal_is_the_last_completed_pass():
    d = DIVERGING
    t = trainer(LINEAR, d["Ws"], d["bs"], d["X"], d["Y"], lr=d["lr"])
    assert t.run(10_000)[1] == "diverged"
    s = trainer(LINEAR, d["Ws"], d["bs"], d["X"], d["Y"], lr=d["lr"])
    while s.step():
        pass
    assert s.last_loss == t.last_loss
    # ½Σ(ŷ − y)² of the reported output must be the reported loss.
    assert 0.5 * float(np.sum((s.last_output - s.last_targets) ** 2)) == pytest.approx(s.last_loss)
    assert np.array_equal(t.last_output, s.last_output)
