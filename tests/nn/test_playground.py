"""TF Playground's default problem (circle data, 2-4-2-1 tanh, batch 10, learning rate 0.03,
mean squared error, a test loss every epoch), the problem benchmarks/engine.py times, against a
plain NumPy mini-batch loop written here in the engine's order of operations: the compiled
kernel's steps to 1e-12 and its runs to 1e-9 (the tolerances of test_kernels.py), its runs
repeatable bit for bit however they are cut into calls; and the compiled kernel's own tanh
against NumPy's.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from app.nn import kernel_slot, numba_kernel
from app.nn.losses import Regularization
from app.nn.network import Network, Spec
from app.nn.optimizers import Optimizer
from app.nn.stepper import Data, Hyper, Trainer

pytestmark = pytest.mark.skipif(not numba_kernel.available(), reason="numba not installed")

LAYERS = (2, 4, 2, 1)
LR, BATCH, SEED = 0.03, 10, 4


def problem() -> dict[str, Any]:
    """Playground's classifyCircleData (radius 5: label 1 inside 2.5, −1 from 3.5 to 5), 250
    training and 250 test points; weights uniform in ±0.5, biases 0.1."""
    rng = np.random.default_rng(11)
    r = np.r_[rng.uniform(0, 2.5, 250), rng.uniform(3.5, 5.0, 250)]
    angle = rng.uniform(0, 2 * np.pi, 500)
    X = np.c_[r * np.sin(angle), r * np.cos(angle)]
    Y = np.r_[np.ones(250), -np.ones(250)][:, None]
    order = rng.permutation(500)
    X, Y = X[order], Y[order]
    return {"X": X[:250], "Y": Y[:250], "Xt": X[250:], "Yt": Y[250:],
            "Ws": [rng.uniform(-0.5, 0.5, s) for s in itertools.pairwise(LAYERS)],
            "bs": [np.full(k, 0.1) for k in LAYERS[1:]]}


def trainer(p: dict[str, Any]) -> Trainer:
    spec = Spec(LAYERS, "tanh", "tanh", "squared_error", "mean", True, Regularization())
    net = Network(spec, [W.copy() for W in p["Ws"]], [b.copy() for b in p["bs"]])
    return Trainer(net, Data(p["X"], p["Y"], p["Xt"], p["Yt"]),
                   Hyper(LR, batch_size=BATCH, shuffle_seed=SEED))


def step(Ws: list[Any], bs: list[Any], X: Any, Y: Any) -> float:
    """One mini-batch, in place: forward, ½·Σerr²/m, backward, W − η·grad_W."""
    acts = [X]
    for W, b in zip(Ws, bs, strict=True):
        acts.append(np.tanh(acts[-1] @ W + b))
    err = acts[-1] - Y
    m = len(X)
    loss = 0.5 * float(np.sum(err * err)) / m
    delta = err * (1.0 - acts[-1] * acts[-1]) * (1.0 / m)
    for l in range(len(Ws) - 1, -1, -1):
        grad_W, grad_b = acts[l].T @ delta, delta.sum(axis=0)
        if l:
            delta = (delta @ Ws[l].T) * (1.0 - acts[l] * acts[l])
        Ws[l] = Ws[l] - LR * grad_W
        bs[l] = bs[l] - LR * grad_b
    return loss


def reference(p: dict[str, Any], epochs: int) -> tuple[list[Any], list[float], list[float]]:
    """Each epoch: the test loss at its start, then its 25 batches in the order drawn from
    (seed, epoch); the epoch's loss is the mean of its batch losses."""
    Ws, bs = [W.copy() for W in p["Ws"]], [b.copy() for b in p["bs"]]
    losses, tests = [], []
    for epoch in range(epochs):
        a = p["Xt"]
        for W, b in zip(Ws, bs, strict=True):
            a = np.tanh(a @ W + b)
        tests.append(0.5 * float(np.sum((a - p["Yt"]) ** 2)) / len(a))
        order = np.random.default_rng([SEED, epoch]).permutation(250)
        batch_losses = [step(Ws, bs, p["X"][idx], p["Y"][idx])
                        for idx in np.split(order, 250 // BATCH)]
        losses.append(sum(batch_losses) / len(batch_losses))
    return Ws + bs, losses, tests


def normwise(got: Any, want: Any, tol: float) -> None:
    g, w = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert np.max(np.abs(g - w)) <= tol * np.max(np.abs(w))


def test_each_compiled_step_is_the_reference_step() -> None:
    """A whole epoch one batch per compiled call, each from the reference's weights."""
    p = problem()
    Ws, bs = [W.copy() for W in p["Ws"]], [b.copy() for b in p["bs"]]
    order = np.random.default_rng([SEED, 0]).permutation(250)
    spec = trainer(p).net.spec
    for j, idx in enumerate(np.split(order, 250 // BATCH)):
        k = kernel_slot.make_kernel("numba", Network(spec, Ws, bs), LR, True, p["X"], p["Y"],
                                    None, None)
        chunk = k.run_batches(order, BATCH, 250 // BATCH, j, j + 1, False)
        want_loss = step(Ws, bs, p["X"][idx], p["Y"][idx])
        assert chunk.losses[0] == pytest.approx(want_loss, rel=1e-12)
        got_W, got_b = k.weights()
        assert got_b is not None
        for got, want in zip(got_W + got_b, Ws + bs, strict=True):
            normwise(got, want, 1e-12)


def test_a_compiled_run_is_the_reference_loop() -> None:
    p = problem()
    want, losses, tests = reference(p, 30)
    t = trainer(p)
    assert t.run(30, kernel="numba") == (30, None)
    assert t.net.b is not None
    for got, w in zip(t.net.W + t.net.b, want, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-9)
    np.testing.assert_allclose(t.history.loss, losses, rtol=1e-9)
    np.testing.assert_allclose([v or 0.0 for v in t.history.test_loss], tests, rtol=1e-9)
    assert losses[-1] < 0.5 * losses[0]  # it learns: the numbers compared are not trivial


def test_compiled_runs_repeat_bit_for_bit_however_they_are_cut() -> None:
    """One run of 30 epochs, and 7 + 1 + 22 epochs (calls that end mid-chunk), give the same
    bits: the arithmetic depends on the data alone, not on how the work is cut."""
    p = problem()
    whole, cut = trainer(p), trainer(p)
    whole.run(30, kernel="numba")
    for epochs in (7, 1, 22):
        cut.run(epochs, kernel="numba")
    assert whole.net.b is not None and cut.net.b is not None
    for a, b in zip(whole.net.W + whole.net.b, cut.net.W + cut.net.b, strict=True):
        assert a.tobytes() == b.tobytes()
    assert whole.history.loss == cut.history.loss
    assert whole.history.test_loss == cut.history.test_loss


def test_a_division_by_zero_is_refused_as_on_numpy() -> None:
    """RMSprop with ε = 0 and a gradient that is exactly 0 (an input column of zeros): the
    update is 0/0 = nan. Both kernels refuse the step (nan, not an exception)."""
    p = problem()
    X = p["X"].copy()
    X[:, 0] = 0.0
    for kernel in ("numpy", "numba"):
        t = trainer(p)
        t.data = Data(X, p["Y"], p["Xt"], p["Yt"])
        t.reset_optimizer(Optimizer("rmsprop", eps=0.0))
        assert t.run(3, kernel=kernel) == (0, "diverged")  # type: ignore[arg-type]
        assert all(np.array_equal(W, W0) for W, W0 in zip(t.net.W, p["Ws"], strict=True))


def test_the_compiled_tanh_is_numpys_to_the_last_bits() -> None:
    assert numba_kernel.warm() and numba_kernel.compiled is not None
    tanh = numba_kernel.compiled._tanh
    rng = np.random.default_rng(3)
    xs = np.concatenate([rng.normal(0, s, 2000) for s in (1e-8, 1e-3, 0.3, 1.0, 3.0, 8.0)])
    got = np.array([tanh(x) for x in xs])
    want = np.tanh(xs)
    # NumPy's own tanh is within about an ulp of the exact value; this one too.
    assert np.all(np.abs(got - want) <= 2 * np.spacing(np.abs(want)))
    assert np.mean(got == want) > 0.6
    assert all(tanh(-x) == -tanh(x) for x in xs[:500])  # odd, bit for bit
    # the edges: signed zeros, saturation, infinities, nan, the tiniest values
    for x, t in ((0.0, 0.0), (19.5, 1.0), (20.0, 1.0), (700.0, 1.0), (math.inf, 1.0),
                 (5e-324, 5e-324), (1e-300, 1e-300)):
        assert tanh(x) == t and tanh(-x) == -t
    assert math.copysign(1.0, tanh(-0.0)) == -1.0
    assert math.isnan(tanh(math.nan))
