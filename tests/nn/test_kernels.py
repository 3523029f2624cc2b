"""Every kernel of the slot (app/nn/kernel_slot.py) against the per-layer step-through path
(app/nn/network.py via Trainer.step), for every activation × loss × reduction ×
regularization × bias mode, with full batches, mini-batches (the last one smaller) and a test
set. Each step: NumPy bit for bit, numba to 1e-12 relative. Two epochs through Trainer.run:
NumPy bit for bit, numba to 1e-9 (a few of these nets blow up to 1e11 in two epochs, and the
step-to-step amplification of the last bit is then the network's conditioning, not the kernel).
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

from app.nn import kernel_slot, numba_kernel
from app.nn.choices import HIDDEN_ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS
from app.nn.stepper import Trainer
from tests.nn.reference import Cfg
from tests.nn.util import trainer

needs_numba = pytest.mark.skipif(not numba_kernel.available(), reason="numba not installed")
KERNELS = ["numpy", pytest.param("numba", marks=needs_numba)]
LAYERS = (3, 4, 3)
# regularization → (batch size, test set): full batch, mini-batches (last one smaller), batch 1
REGS = {"none": (None, 4), "l1": (3, 0), "l2": (1, 3)}
BIAS = ("on", "off", "frozen")


def targets(loss: str, rng: np.random.RandomState, n: int, k: int) -> np.ndarray:
    if loss == "squared_error":
        return rng.normal(0, 1, (n, k))
    if loss == "binary_cross_entropy":
        return rng.randint(0, 2, (n, k)).astype(float)
    return np.eye(k)[rng.randint(0, k, n)]


def make(hidden: str, output: str, loss: str, reduction: str, reg: str, bias: str) -> Trainer:
    key = f"{hidden}-{output}-{loss}-{reduction}-{reg}-{bias}"
    rng = np.random.RandomState(zlib.crc32(key.encode()))
    cfg = Cfg(LAYERS, hidden, output, loss, reduction, bias=bias != "off", reg_kind=reg,
              reg_rate=0.0 if reg == "none" else 0.01)
    Ws = [rng.normal(0, 0.8, (a, b)) for a, b in itertools.pairwise(LAYERS)]
    bs = None if bias == "off" else [rng.normal(0, 0.3, b) for b in LAYERS[1:]]
    batch_size, n_test = REGS[reg]
    X, Y = rng.normal(0, 1.5, (7, 3)), targets(loss, rng, 7, 3)
    kw = {}
    if n_test:
        kw = {"X_test": rng.normal(0, 1.5, (n_test, 3)),
              "Y_test": targets(loss, rng, n_test, 3)}
    return trainer(cfg, Ws, bs, X, Y, 0.05, batch_size=batch_size,
                   train_bias=bias != "frozen", shuffle_seed=5, **kw)


def step_through(t: Trainer, epochs: int) -> None:
    """The reference: one layer at a time, as a student would press the buttons."""
    target = t.epoch + epochs
    while t.epoch < target and t.step():
        pass


def assert_agree(ref: Trainer, got: Trainer, rtol: float) -> None:
    def close(a: object, b: object) -> None:
        if rtol == 0:
            assert np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                  equal_nan=True)
        else:
            # atol only for values that cancel to ~0 (relative error is meaningless there)
            np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                       rtol=rtol, atol=1e-15)

    assert (got.epoch, got.iteration, got.batch_pos, got.status) == (
        ref.epoch, ref.iteration, ref.batch_pos, ref.status)
    for a, b in zip(got.net.W, ref.net.W, strict=True):
        close(a, b)
    assert (got.net.b is None) == (ref.net.b is None)
    for a, b in zip(got.net.b or [], ref.net.b or [], strict=True):
        close(a, b)
    assert got.history.epoch == ref.history.epoch
    close(got.history.loss, ref.history.loss)
    assert [t is None for t in got.history.test_loss] == [t is None for t in ref.history.test_loss]
    close([t or 0.0 for t in got.history.test_loss], [t or 0.0 for t in ref.history.test_loss])
    assert (got.last_loss is None) == (ref.last_loss is None)
    if ref.last_loss is not None:
        close(got.last_loss, ref.last_loss)
        close(got.last_output, ref.last_output)
        close(got.last_targets, ref.last_targets)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("hidden", "output", "loss"),
                         list(itertools.product(HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, LOSSES)))
def test_kernel_matches_step_through(kernel: str, hidden: str, output: str, loss: str) -> None:
    rtol = 0.0 if kernel == "numpy" else 1e-9
    for reduction, reg, bias in itertools.product(("sum", "mean"), REGS, BIAS):
        ref, got = (make(hidden, output, loss, reduction, reg, bias) for _ in range(2))
        W_before = [W.copy() for W in got.net.W]
        W_objects = list(got.net.W)
        step_through(ref, 2)
        got.run(2, kernel=kernel)  # type: ignore[arg-type]
        assert_agree(ref, got, rtol)
        # The kernel trained a copy: the network's old arrays were never written to.
        for old, before in zip(W_objects, W_before, strict=True):
            assert np.array_equal(old, before)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("hidden", "output", "loss"),
                         list(itertools.product(HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, LOSSES)))
def test_each_kernel_step_matches_the_per_layer_step(kernel: str, hidden: str, output: str,
                                                     loss: str) -> None:
    """From the same weights, one batch through the kernel = one batch stepped layer by layer:
    NumPy bit for bit; numba's weights to 1e-12 of the array's largest value, its losses to 1e-9
    relative (all but a few saturated clipped-log cases agree to 1e-12)."""
    exact = kernel == "numpy"

    def close(got: object, want: object, tol: float) -> None:
        g, w = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
        if exact:
            assert np.array_equal(g, w)
        else:  # normwise: sums of terms of ~1e11 may cancel to ~1e6 (their last bits differ)
            assert np.max(np.abs(g - w)) <= tol * max(np.max(np.abs(w)), 1e-300)
    for reduction, reg, bias in itertools.product(("sum", "mean"), REGS, BIAS):
        ref = make(hidden, output, loss, reduction, reg, bias)
        d = ref.data
        for _ in range(2 * ref.n_batches):
            k = kernel_slot.make_kernel(kernel, ref.net, ref.learning_rate,  # type: ignore[arg-type]
                                        ref.train_bias, d.X, d.Y, d.X_test, d.Y_test)
            order = ref.permutation(ref.epoch)
            order = np.arange(ref.n_samples) if order is None else order
            pos = ref.batch_pos
            test_first = pos == 0 and ref.epoch_test_loss is None
            chunk = k.run_batches(order, ref.effective_batch_size, ref.n_batches, pos, pos + 1,
                                  test_first)
            ok = ref.step()
            want = ref.epoch_test_loss  # taken by the first forward step of an epoch
            while ok and (ref.phase, ref.layer) != ("forward", 1):
                ok = ref.step()
            assert chunk.diverged == (not ok)
            if test_first:
                assert np.isfinite(chunk.tests[0]) == (want is not None)
                if want is not None:
                    close(chunk.tests[0], want, 1e-9)
            W, b = k.weights()
            for a, want_W in zip(W, ref.net.W, strict=True):
                close(a, want_W, 1e-12)
            for a, want_b in zip(b or [], ref.net.b or [], strict=True):
                close(a, want_b, 1e-12)
            if not ok:
                break
            # A clipped log near ŷ = 1 turns a last-bit difference in ŷ into ~1e-10 of the loss.
            close(chunk.losses[0], ref.last_loss, 1e-9)


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_refused_step_stops_the_run_as_stepping_does(kernel: str) -> None:
    from tests.nn.test_stability import DIVERGING, LINEAR, reference_until_divergence

    d = DIVERGING
    Ws, bs, X, Y = (np.array(d[k], dtype=float) for k in ("Ws", "bs", "X", "Y"))
    ref_W, ref_b, ref_losses = reference_until_divergence(list(Ws), list(bs), X, Y, LINEAR,
                                                          d["lr"], 10_000)
    t = trainer(LINEAR, d["Ws"], d["bs"], d["X"], d["Y"], lr=d["lr"])
    assert t.run(10_000, kernel=kernel) == (len(ref_losses), "diverged")  # type: ignore[arg-type]
    assert t.status == "diverged" and (t.phase, t.layer, t.trace) == ("forward", 1, None)
    np.testing.assert_allclose(t.net.W[0], ref_W[0], rtol=1e-9)
    np.testing.assert_allclose(t.net.b[0], ref_b[0], rtol=1e-9)
    np.testing.assert_allclose(t.history.loss, ref_losses, rtol=1e-9)
    W = t.net.W[0].copy()
    assert t.run(10, kernel=kernel) == (0, "diverged")  # type: ignore[arg-type]
    assert np.array_equal(t.net.W[0], W)


@pytest.mark.parametrize("kernel", KERNELS)
def test_run_keeps_to_its_time_budget(kernel: str) -> None:
    t = make("tanh", "sigmoid", "binary_cross_entropy", "mean", "l1", "on")  # batches of 3
    ran, stopped = t.run(10**9, time_budget=0.05, kernel=kernel)  # type: ignore[arg-type]
    assert stopped == "time_budget" and 1 <= ran < 10**9 and t.epoch == ran
    full = make("tanh", "sigmoid", "binary_cross_entropy", "mean", "none", "on")  # full batch
    ran, stopped = full.run(10**9, time_budget=0.05, kernel=kernel)  # type: ignore[arg-type]
    assert stopped == "time_budget" and 1 <= ran < 10**9 and full.epoch == ran


def test_the_slot_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(numba_kernel._ready, "is_set", lambda: False)  # still compiling
    assert kernel_slot.resolve("auto") == "numpy" and kernel_slot.resolve("numpy") == "numpy"
    monkeypatch.setattr(numba_kernel, "available", lambda: False)  # numba not installed
    assert kernel_slot.resolve("auto") == "numpy"
    with pytest.raises(RuntimeError, match="numba is not installed"):
        kernel_slot.resolve("numba")
    with pytest.raises(ValueError, match="kernel must be one of"):
        kernel_slot.configure("fast")  # type: ignore[arg-type]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("lr", [0.9, 1.0])  # refused at an epoch's first batch / mid-epoch
def test_chunks_spanning_epochs_keep_the_bookkeeping_of_stepping(kernel: str, lr: float
                                                                  ) -> None:
    """Mini-batches of one sample until the run diverges: the kernel trains many epochs per
    call (their orders one after another), and every epoch's loss, test loss, the refused
    epoch's test loss and the counters are what stepping layer by layer gives."""
    from tests.nn.test_stability import DIVERGING, LINEAR

    d = DIVERGING
    kw = {"batch_size": 1, "shuffle_seed": 3, "X_test": np.array([[0.5], [1.5]]),
          "Y_test": np.array([[0.2], [0.4]])}
    ref = trainer(LINEAR, d["Ws"], d["bs"], d["X"], d["Y"], lr=lr, **kw)
    for _ in range(10_000):
        if not ref.step():
            break
    assert ref.status == "diverged" and ref.epoch > 100
    got = trainer(LINEAR, d["Ws"], d["bs"], d["X"], d["Y"], lr=lr, **kw)
    k = kernel_slot.make_kernel(kernel, got.net, lr, True,  # type: ignore[arg-type]
                                got.data.X, got.data.Y, None, None)
    assert k.batches_per_chunk(1) > 2 * got.n_batches  # so a chunk spans epochs
    ran, stopped = got.run(10_000, kernel=kernel)  # type: ignore[arg-type]
    assert (ran, stopped) == (ref.epoch, "diverged")
    assert_agree(ref, got, 0.0 if kernel == "numpy" else 1e-9)
    assert (got.epoch_test_loss is None) == (ref.epoch_test_loss is None)
    if ref.epoch_test_loss is not None:
        np.testing.assert_allclose(got.epoch_test_loss, ref.epoch_test_loss, rtol=1e-9)
    assert got.epoch_loss_sum == pytest.approx(ref.epoch_loss_sum, rel=1e-9)
