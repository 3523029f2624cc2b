"""The optimizers against PyTorch's update rules re-derived here, independently of
app/nn/optimizers.py (torch is not installed): the moments written out per element with Python
floats, Adam in the textbook m̂ / v̂ form. Stepped updates one at a time through the Trainer,
then 100 trained epochs on both kernels; NumPy bit for bit with stepping, numba to 1e-12.

The reference gradient is the engine's own backward pass (the gradient itself is tested against
finite differences and an independent backprop in test_gradients.py); what is tested here is
the step a gradient becomes.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from app.nn import numba_kernel
from app.nn.optimizers import Optimizer, OptState
from app.nn.stepper import Trainer
from tests.nn.reference import Cfg
from tests.nn.util import engine_grads, trainer

needs_numba = pytest.mark.skipif(not numba_kernel.available(), reason="numba not installed")

OPTIMIZERS = {
    "momentum": Optimizer("momentum", momentum=0.9),
    "nesterov": Optimizer("momentum", momentum=0.8, nesterov=True),
    "rmsprop": Optimizer("rmsprop", alpha=0.9, eps=1e-8),
    "adam": Optimizer("adam", beta1=0.9, beta2=0.999, eps=1e-8),
}


class Reference:
    """torch.optim's step, one scalar parameter at a time (SGD: momentum buffer cloned from
    the first gradient, dampening 0; RMSprop: not centred, no momentum; Adam: bias-corrected).
    """

    def __init__(self, kind: str, o: Optimizer) -> None:
        self.kind, self.o = kind, o
        self.t = 0
        self.buf: dict[tuple[int, ...], float] = {}
        self.sq: dict[tuple[int, ...], float] = {}

    def begin(self) -> None:
        self.t += 1

    def step(self, key: tuple[int, ...], p: float, g: float, lr: float) -> float:
        o, t = self.o, self.t
        if self.kind in ("momentum", "nesterov"):
            b = g if key not in self.buf else o.momentum * self.buf[key] + g
            self.buf[key] = b
            d = g + o.momentum * b if o.nesterov else b
            return p - lr * d
        if self.kind == "rmsprop":
            s = o.alpha * self.sq.get(key, 0.0) + (1 - o.alpha) * g * g
            self.sq[key] = s
            return p - lr * g / (math.sqrt(s) + o.eps)
        m = o.beta1 * self.buf.get(key, 0.0) + (1 - o.beta1) * g
        v = o.beta2 * self.sq.get(key, 0.0) + (1 - o.beta2) * g * g
        self.buf[key], self.sq[key] = m, v
        m_hat = m / (1 - o.beta1 ** t)
        v_hat = v / (1 - o.beta2 ** t)
        return p - lr * m_hat / (math.sqrt(v_hat) + o.eps)


def make(opt: Optimizer, bias: str = "on", reg: str = "l2", batch_size: int | None = None,
         n: int = 8) -> Trainer:
    rng = np.random.RandomState(7)
    layers = (2, 3, 1)
    cfg = Cfg(layers, "tanh", "sigmoid", "binary_cross_entropy", "mean", bias=bias != "off",
              reg_kind=reg, reg_rate=0.0 if reg == "none" else 0.01)
    Ws = [rng.normal(0, 0.8, (a, b)) for a, b in itertools.pairwise(layers)]
    bs = None if bias == "off" else [rng.normal(0, 0.3, b) for b in layers[1:]]
    X = rng.normal(0, 1.0, (n, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    return trainer(cfg, Ws, bs, X, Y, 0.1, batch_size=batch_size,
                   train_bias=bias != "frozen", shuffle_seed=3, optimizer=opt)


def reference_update(ref: Reference, t: Trainer, lr: float) -> tuple[list, list | None]:
    """The reference's new weights from the trainer's current weights and batch."""
    _, X, Y = t.current_batch()
    gW, gb = engine_grads(t.net, X, Y)
    ref.begin()
    Ws = []
    for l, (W, g) in enumerate(zip(t.net.W, gW, strict=True)):
        Ws.append(np.array([[ref.step((0, l, i, j), W[i, j], g[i, j], lr)
                             for j in range(W.shape[1])] for i in range(W.shape[0])]))
    if t.net.b is None:
        return Ws, None
    if not t.train_bias:
        return Ws, [b.copy() for b in t.net.b]
    bs = [np.array([ref.step((1, l, j), b[j], g[j], lr) for j in range(len(b))])
          for l, (b, g) in enumerate(zip(t.net.b, gb, strict=True))]
    return Ws, bs


@pytest.mark.parametrize("bias", ["on", "frozen", "off"])
@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_stepped_updates_follow_pytorch(kind: str, bias: str) -> None:
    t = make(OPTIMIZERS[kind], bias=bias, batch_size=3)
    ref = Reference(kind, OPTIMIZERS[kind])
    for _ in range(6):
        t.forward_all()
        t.backward_all()
        want_W, want_b = reference_update(ref, t, t.learning_rate)
        before_b = None if t.net.b is None else [b.copy() for b in t.net.b]
        assert t.update_step()
        for got, want in zip(t.net.W, want_W, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
        if want_b is not None:
            for got, want in zip(t.net.b or [], want_b, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
        if bias == "frozen":
            assert before_b is not None
            assert all(np.array_equal(a, b) for a, b in zip(before_b, t.net.b or [],
                                                              strict=True))
    assert t.opt_state is not None and t.opt_state.step == 6


def test_first_adam_step_is_lr_times_sign() -> None:
    """Hand-derived: at t = 1, m̂ = g and v̂ = g², so each weight moves by η·g/(|g| + ε),
    which is η·sign(g) up to ε/|g|."""
    t = make(OPTIMIZERS["adam"], bias="off", reg="none")
    W0 = [W.copy() for W in t.net.W]
    t.forward_all()
    t.backward_all()
    trace = t.trace
    assert trace is not None
    gW = [g.copy() for g in trace.grad_W if g is not None]
    t.update_step()
    for W, W_before, g in zip(t.net.W, W0, gW, strict=True):
        np.testing.assert_allclose(W_before - W, 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)
        assert np.all(np.abs(W_before - W) <= 0.1)


def test_momentum_second_step_by_hand() -> None:
    """v₁ = g₁, v₂ = μ·g₁ + g₂: the second step is η·(μ·g₁ + g₂) (heavy ball), and with
    Nesterov η·(g₂ + μ·v₂)."""
    for nesterov in (False, True):
        t = make(Optimizer("momentum", momentum=0.5, nesterov=nesterov), bias="off",
                 reg="none")
        gs = []
        for _ in range(2):
            t.forward_all()
            t.backward_all()
            assert t.trace is not None
            gs.append(t.trace.grad_W[0].copy())  # type: ignore[union-attr]
            before = t.net.W[0].copy()
            t.update_step()
        v2 = 0.5 * gs[0] + gs[1]
        step = gs[1] + 0.5 * v2 if nesterov else v2
        np.testing.assert_allclose(before - t.net.W[0], 0.1 * step, rtol=1e-12, atol=1e-15)


def step_through(t: Trainer, epochs: int) -> None:
    target = t.epoch + epochs
    while t.epoch < target and t.step():
        pass


def same_state(a: OptState | None, b: OptState | None, rtol: float) -> None:
    assert a is not None and b is not None
    assert a.step == b.step
    for xs, ys in ((a.m, b.m), (a.v, b.v)):
        assert (xs is None) == (ys is None)
        for x, y in zip(xs or (), ys or (), strict=True):
            if rtol == 0:
                assert np.array_equal(x, y)
            else:
                np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-15)


KERNELS = ["numpy", pytest.param("numba", marks=needs_numba)]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("batch_size", [None, 3])
@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_kernels_train_like_stepping_and_reference(kind: str, batch_size: int | None,
                                                   kernel: str) -> None:
    """100 epochs: the kernel against stepping (NumPy bit for bit, numba 1e-12 relative per
    step, looser over 100 epochs' amplification) and against the reference to 1e-9."""
    epochs = 100 if batch_size is None else 30
    ref_t = make(OPTIMIZERS[kind], batch_size=batch_size, bias="frozen" if kind == "rmsprop"
                 else "on")
    got = make(OPTIMIZERS[kind], batch_size=batch_size, bias="frozen" if kind == "rmsprop"
               else "on")
    # The independent reference, batch by batch, on a third copy.
    r = make(OPTIMIZERS[kind], batch_size=batch_size, bias="frozen" if kind == "rmsprop"
             else "on")
    ref = Reference(kind, OPTIMIZERS[kind])
    for _ in range(epochs * r.n_batches):
        Ws, bs = reference_update(ref, r, r.learning_rate)
        r.net.W, r.net.b = Ws, bs
        r.batch_pos = (r.batch_pos + 1) % r.n_batches
        if r.batch_pos == 0:
            r.epoch += 1
    step_through(ref_t, epochs)
    ran, stopped = got.run(epochs, kernel=kernel)  # type: ignore[arg-type]
    assert (ran, stopped) == (epochs, None)
    rtol = 0 if kernel == "numpy" else 1e-10
    for a, b in zip(got.net.W + (got.net.b or []), ref_t.net.W + (ref_t.net.b or []),
                    strict=True):
        if rtol == 0:
            assert np.array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-14)
    same_state(got.opt_state, ref_t.opt_state, rtol)
    assert got.history.loss == ref_t.history.loss if rtol == 0 else np.allclose(
        got.history.loss, ref_t.history.loss, rtol=1e-10)
    for a, b in zip(got.net.W + (got.net.b or []), r.net.W + (r.net.b or []), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_kernel_runs_continue_exactly(kind: str, kernel: str) -> None:
    """Training 4 + 3 epochs in two runs equals 7 in one: the state goes out and back in."""
    a = make(OPTIMIZERS[kind], batch_size=3)
    b = make(OPTIMIZERS[kind], batch_size=3)
    a.run(4, kernel=kernel)  # type: ignore[arg-type]
    a.run(3, kernel=kernel)  # type: ignore[arg-type]
    b.run(7, kernel=kernel)  # type: ignore[arg-type]
    assert all(np.array_equal(x, y) for x, y in zip(a.net.W, b.net.W, strict=True))
    same_state(a.opt_state, b.opt_state, 0)
    assert a.opt_state is not None and a.opt_state.step == 7 * a.n_batches


@pytest.mark.parametrize("kernel", KERNELS)
def test_non_finite_moments_are_refused(kernel: str) -> None:
    """A gradient whose square overflows makes v infinite: the update is refused, weights and
    state unchanged, status diverged."""
    t = make(OPTIMIZERS["rmsprop"], bias="off", reg="none")
    t.net.W[1][...] = 1e160  # huge output weights: g ≈ 1e160 for layer 1, g² overflows
    W0 = [W.copy() for W in t.net.W]
    state0 = t.opt_state
    ran, stopped = t.run(1, kernel=kernel)  # type: ignore[arg-type]
    assert (ran, stopped) == (0, "diverged")
    assert all(np.array_equal(a, b) for a, b in zip(t.net.W, W0, strict=True))
    same_state(t.opt_state, state0, 0)
