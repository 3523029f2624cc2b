"""Stepping through an epoch layer by layer (forward ×L, backward ×L, update) gives exactly the
numbers of Trainer.run (the fast in-place kernel), bit for bit, and both agree with an
independent reference loop (tests/nn/reference.py) to rounding."""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass

import numpy as np
import pytest

from app.nn import kernel_slot
from app.nn.stepper import Trainer
from tests.nn import reference as ref
from tests.nn.reference import Cfg
from tests.nn.util import trainer


@dataclass(frozen=True)
class Case:
    id: str
    cfg: Cfg
    target: str
    n: int
    lr: float
    batch_size: int | None = None
    train_bias: bool = True
    n_test: int = 0


CASES = [
    Case("xor-like-nobias-sum", Cfg((2, 4, 1), bias=False), "binary", 4, 0.1),
    Case("tanh-sigmoid-bias-mean-l2", Cfg((3, 5, 2), "tanh", "sigmoid", reduction="mean",
                                          reg_kind="l2", reg_rate=0.01), "real", 9, 0.3),
    Case("relu-softmax-ce-l1-minibatch", Cfg((2, 6, 3), "relu", "softmax", "cross_entropy",
                                             "mean", reg_kind="l1", reg_rate=0.002),
         "onehot", 10, 0.2, batch_size=4),
    Case("leaky-sigmoid-bce-l2-test-set", Cfg((2, 4, 4, 1), "leaky_relu", "sigmoid",
                                              "binary_cross_entropy", "sum", reg_kind="l2",
                                              reg_rate=0.03),
         "binary", 7, 0.05, batch_size=3, n_test=5),
    Case("linear-linear-mean-batch1", Cfg((2, 3, 1), "linear", "linear", reduction="mean"),
         "real", 5, 0.05, batch_size=1),
    Case("tanh-softmax-se-frozen-bias", Cfg((3, 4, 3, 2), "tanh", "softmax"), "soft", 6, 0.5,
         train_bias=False),
    Case("sigmoid-relu-out-nobias-l1", Cfg((2, 5, 2), "sigmoid", "relu", bias=False,
                                           reg_kind="l1", reg_rate=0.01), "real", 8, 0.1,
         batch_size=5),
    Case("tanh-tanh-full-batch-test-set", Cfg((2, 3, 1), "tanh", "tanh"), "real", 6, 0.1,
         n_test=4),
    Case("softmax-ce-soft-sum-batch-last-smaller", Cfg((4, 3, 3), "sigmoid", "softmax",
                                                       "cross_entropy", "sum"),
         "soft", 11, 0.1, batch_size=4),
    Case("relu-sigmoid-bce-mean-nobias", Cfg((2, 8, 1), "relu", "sigmoid",
                                             "binary_cross_entropy", "mean", bias=False),
         "binary", 12, 0.5),
]


def make(case: Case) -> Trainer:
    rng = np.random.RandomState(zlib.crc32(case.id.encode()))  # stable across processes
    layers = case.cfg.layers
    Ws = [rng.normal(0, 0.7, (a, b)) for a, b in itertools.pairwise(layers)]
    bs = [rng.normal(0, 0.2, b) for b in layers[1:]] if case.cfg.bias else None
    X = rng.normal(0, 1.5, (case.n, layers[0]))
    Y = ref.targets(case.target, rng, case.n, layers[-1])
    kw = {}
    if case.n_test:
        kw["X_test"] = rng.normal(0, 1.5, (case.n_test, layers[0]))
        kw["Y_test"] = ref.targets(case.target, rng, case.n_test, layers[-1])
    return trainer(case.cfg, Ws, bs, X, Y, case.lr, batch_size=case.batch_size,
                   train_bias=case.train_bias, shuffle_seed=3, **kw)


def step_epoch(t: Trainer) -> list[float]:
    """One epoch, one layer at a time; returns the batch losses seen in the traces."""
    L = t.L
    epoch = t.epoch
    batch_losses = []
    while t.epoch == epoch:
        assert (t.phase, t.layer) == ("forward", 1)
        for l in range(1, L + 1):
            assert t.layer == l
            assert t.forward_step()
        assert (t.phase, t.layer) == ("backward", L)
        batch_losses.append(t.trace.loss)
        for l in range(L, 0, -1):
            assert t.layer == l
            assert t.backward_step()
        assert (t.phase, t.layer) == ("update", None)
        assert t.update_step()
    return batch_losses


def assert_same(a: Trainer, b: Trainer) -> None:
    """Bit for bit on the NumPy kernel; to 1e-12 relative on the compiled one."""
    exact = kernel_slot.default() == "numpy"

    def same(x: object, y: object) -> None:
        if exact:
            assert np.array_equal(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        else:
            np.testing.assert_allclose(np.asarray(x, dtype=float), np.asarray(y, dtype=float),
                                       rtol=1e-12, atol=1e-15)

    for Wa, Wb in zip(a.net.W, b.net.W, strict=True):
        same(Wa, Wb)
    assert (a.net.b is None) == (b.net.b is None)
    for ba, bb in zip(a.net.b or [], b.net.b or [], strict=True):
        same(ba, bb)
    assert a.history.epoch == b.history.epoch
    same(a.history.loss, b.history.loss)  # exact float equality on NumPy
    assert [t is None for t in a.history.test_loss] == [t is None for t in b.history.test_loss]
    same([t or 0.0 for t in a.history.test_loss], [t or 0.0 for t in b.history.test_loss])
    assert (a.epoch, a.iteration, a.batch_pos) == (b.epoch, b.iteration, b.batch_pos)
    same(a.last_loss, b.last_loss)
    same(a.last_output, b.last_output)
    assert a.status == b.status == "ok"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_one_epoch_stepped_equals_run(case):
    stepped, ran = make(case), make(case)
    losses = step_epoch(stepped)
    assert ran.run(1) == (1, None)
    assert_same(stepped, ran)
    assert len(losses) == stepped.n_batches
    # history = the epoch's forward loss (full batch) or the mean of the batch losses
    assert stepped.history.loss == [sum(losses) / len(losses)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_three_epochs_with_step_and_mixed(case):
    stepped, ran, mixed = make(case), make(case), make(case)
    for _ in range(3):
        step_epoch(stepped)
    assert ran.run(3) == (3, None)
    assert_same(stepped, ran)
    # step() through epoch 0, run epoch 1, forward_all/backward_all/update through epoch 2
    epoch = mixed.epoch
    while mixed.epoch == epoch:
        assert mixed.step()
    assert mixed.run(1) == (1, None)
    while mixed.epoch == 2:
        mixed.forward_all()
        mixed.backward_all()
        assert mixed.update_step()
    assert_same(stepped, mixed)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_stepping_matches_reference_loop(case):
    """Two epochs against the reference backprop in the test (same batches)."""
    t = make(case)
    cfg = case.cfg
    Ws = [W.copy() for W in t.net.W]
    bs = None if t.net.b is None else [b.copy() for b in t.net.b]
    X, Y = t.data.X, t.data.Y
    n, bsz = len(X), case.batch_size or len(X)
    history = []
    for epoch in range(2):
        perm = np.arange(n) if bsz >= n else t.permutation(epoch)
        batch_losses = []
        for start in range(0, n, bsz):
            idx = perm[start : start + bsz]
            loss, gW, gb = ref.backprop(cfg, Ws, bs, X[idx], Y[idx])
            batch_losses.append(loss)
            Ws = [W - case.lr * g for W, g in zip(Ws, gW, strict=True)]
            if bs is not None and case.train_bias:
                bs = [b - case.lr * g for b, g in zip(bs, gb, strict=True)]
        history.append(np.mean(batch_losses))
        step_epoch(t)
    np.testing.assert_allclose(t.history.loss, history, rtol=1e-12, atol=1e-14)
    for W, Wr in zip(t.net.W, Ws, strict=True):
        np.testing.assert_allclose(W, Wr, rtol=1e-12, atol=1e-14)
    for b, br in zip(t.net.b or [], bs or [], strict=True):
        np.testing.assert_allclose(b, br, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", [CASES[2], CASES[3]], ids=[CASES[2].id, CASES[3].id])
def test_partial_epoch_then_run_finishes_it(case):
    """run() discards an unfinished pass; a mini-batch epoch partly stepped counts as the
    first of the epochs asked for, and the result equals stepping the rest."""
    a, b = make(case), make(case)
    for t in (a, b):
        for _ in range(2 * t.L + 1):  # the first batch: forward, backward, update
            t.step()
        assert t.batch_pos == 1
        t.forward_step()  # a pass in progress, to be discarded
    assert a.run(1) == (1, None)
    b.discard_pass()
    while b.epoch == 0:
        assert b.step()
    assert_same(a, b)


def test_trace_shapes_and_cursor():
    case = CASES[3]  # 2-4-4-1 with 7 samples, batches of 3: 3, 3, 1
    t = make(case)
    sizes = []
    while t.epoch == 0:
        for l in range(1, t.L + 1):
            t.forward_step()
            assert t.trace.z[l - 1].shape == (len(t.trace.indices), case.cfg.layers[l])
            assert all(v is None for v in t.trace.z[l:])
        sizes.append(len(t.trace.indices))
        t.backward_all()
        for l in range(1, t.L + 1):
            assert t.trace.grad_W[l - 1].shape == t.net.W[l - 1].shape
            assert t.trace.grad_b[l - 1].shape == (case.cfg.layers[l],)
        t.update_step()
        assert t.trace is None and (t.phase, t.layer) == ("forward", 1)
    assert sizes == [3, 3, 1]


@pytest.mark.parametrize("case", [CASES[0], CASES[2]], ids=[CASES[0].id, CASES[2].id])
def test_time_budget_stops_between_mini_batches_with_exact_state(case):
    """The clock is read between chunks of mini-batches (issue #8; a chunk is one batch on
    large problems, at most 64 small ones): a spent budget stops a mini-batch run after its
    first chunk, possibly mid-epoch; a full-batch run after its first chunk of epochs. Either
    way the state is exactly that of stepping the same batches one by one."""
    t = make(case)
    ran, stopped = t.run(1_000_000, time_budget=0.0)
    assert stopped == "time_budget" and t.status == "ok"
    if t.n_batches > 1:
        assert 1 <= t.iteration <= 64 and ran <= 64 // t.n_batches + 1
    else:
        assert 1 <= ran < 1_000_000 and t.epoch == ran and t.batch_pos == 0
    again = make(case)
    for _ in range(t.iteration):
        again.forward_all()
        again.backward_all()
        assert again.update_step()
    assert_same(t, again)


def test_history_compaction_keeps_first_last_and_true_values():
    full, short = make(CASES[0]), make(CASES[0])
    short.history_limit = 16
    assert full.run(200) == short.run(200) == (200, None)
    h = short.history
    assert 8 <= len(h.epoch) <= 16
    assert h.epoch[0] == 0 and h.epoch[-1] == 199
    assert h.epoch == sorted(set(h.epoch))
    # every kept point is the loss of that epoch
    assert h.loss == [full.history.loss[e] for e in h.epoch]
    assert all(np.array_equal(a, b) for a, b in zip(full.net.W, short.net.W, strict=True))
