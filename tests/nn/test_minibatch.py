"""Mini-batches: each epoch's batches partition the data, the shuffle is a function of
(seed, epoch) only, and the history is the mean of the batch losses (checked against an
independent reference loop)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.nn import reference as ref
from tests.nn.reference import Cfg
from tests.nn.util import trainer


def make(n=11, batch_size=4, seed=0, cfg=None, lr=0.1, test=False, data_seed=1):
    cfg = cfg or Cfg((2, 3, 1), "tanh", "sigmoid", reduction="mean")
    rng = np.random.RandomState(data_seed)
    Ws = [rng.normal(0, 0.8, (a, b)) for a, b in itertools.pairwise(cfg.layers)]
    bs = [rng.normal(0, 0.2, b) for b in cfg.layers[1:]] if cfg.bias else None
    X = rng.normal(0, 1, (n, cfg.layers[0]))
    Y = rng.uniform(0, 1, (n, cfg.layers[-1]))
    kw = {}
    if test:
        kw = {"X_test": rng.normal(0, 1, (5, cfg.layers[0])),
              "Y_test": rng.uniform(0, 1, (5, cfg.layers[-1]))}
    t = trainer(cfg, Ws, bs, X, Y, lr, batch_size=batch_size, shuffle_seed=seed, **kw)
    return t, cfg, Ws, bs, X, Y, kw


@pytest.mark.parametrize(("n", "bs", "sizes"), [
    (11, 4, [4, 4, 3]), (12, 4, [4, 4, 4]), (5, 1, [1] * 5), (7, 6, [6, 1]),
])
def test_batches_partition_each_epoch(n, bs, sizes):
    t = make(n=n, batch_size=bs)[0]
    assert t.n_batches == len(sizes)
    for epoch in range(6):
        batches = [t.batch_indices(epoch, pos) for pos in range(t.n_batches)]
        assert [len(b) for b in batches] == sizes
        assert sorted(np.concatenate(batches).tolist()) == list(range(n))


def test_batches_seen_while_stepping_are_the_partition():
    t = make(n=11, batch_size=4)[0]
    for epoch in range(3):
        seen = []
        while t.epoch == epoch:
            t.forward_step()
            seen.append(t.trace.indices.copy())
            # the trace's rows are those samples
            assert np.array_equal(t.current_batch()[1], t.data.X[t.trace.indices])
            t.forward_all()
            t.backward_all()
            t.update_step()
        assert [len(s) for s in seen] == [4, 4, 3]
        assert sorted(np.concatenate(seen).tolist()) == list(range(11))
        assert np.array_equal(np.concatenate(seen), t.permutation(epoch))


def test_shuffle_is_a_function_of_seed_and_epoch():
    a = make(n=20, batch_size=5, seed=7)[0]
    b = make(n=20, batch_size=5, seed=7, data_seed=99)[0]  # other data and weights
    c = make(n=20, batch_size=5, seed=8)[0]
    perms = [a.permutation(e) for e in range(5)]
    # reproducible, independent of data, weights and of anything already run
    assert all(np.array_equal(p, b.permutation(e)) for e, p in enumerate(perms))
    assert a.run(3) == (3, None)
    assert all(np.array_equal(p, a.permutation(e)) for e, p in enumerate(perms))
    # a fresh trainer placed at epoch 3 takes epoch 3's batches
    fresh = make(n=20, batch_size=5, seed=7)[0]
    fresh.epoch = 3
    fresh.forward_step()
    assert np.array_equal(fresh.trace.indices, perms[3][:5])
    # a real shuffle: epochs differ from each other, from the data order and across seeds
    assert len({tuple(p) for p in perms}) == 5
    assert not any(np.array_equal(p, np.arange(20)) for p in perms)
    assert not np.array_equal(perms[0], c.permutation(0))


def test_full_batch_keeps_data_order():
    for bs in (None, 11, 50):
        t = make(n=11, batch_size=bs)[0]
        assert t.permutation(0) is None and t.n_batches == 1
        assert t.batch_indices(0, 0).tolist() == list(range(11))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("test", [False, True], ids=["no-test", "test-set"])
def test_history_is_mean_of_batch_losses(reduction, test):
    cfg = Cfg((2, 4, 1), "tanh", "sigmoid", reduction=reduction, reg_kind="l2", reg_rate=0.01)
    t, cfg, Ws, bs, X, Y, kw = make(n=11, batch_size=4, seed=3, cfg=cfg, lr=0.2, test=test)
    epochs = 5
    assert t.run(epochs) == (epochs, None)
    # the reference loop over the same batches
    hist, test_hist = [], []
    for epoch in range(epochs):
        if test:
            test_hist.append(ref.objective(cfg, Ws, bs, kw["X_test"], kw["Y_test"]))
        perm = t.permutation(epoch)
        batch_losses = []
        for start in range(0, 11, 4):
            idx = perm[start : start + 4]
            loss, gW, gb = ref.backprop(cfg, Ws, bs, X[idx], Y[idx])
            batch_losses.append(loss)
            Ws = [W - 0.2 * g for W, g in zip(Ws, gW, strict=True)]
            bs = [b - 0.2 * g for b, g in zip(bs, gb, strict=True)]
        hist.append(sum(batch_losses) / len(batch_losses))
    assert t.history.epoch == list(range(epochs))
    np.testing.assert_allclose(t.history.loss, hist, rtol=1e-12, atol=1e-15)
    if test:
        np.testing.assert_allclose(t.history.test_loss, test_hist, rtol=1e-12, atol=1e-15)
    else:
        assert t.history.test_loss == [None] * epochs
    for W, Wr in zip(t.net.W, Ws, strict=True):
        np.testing.assert_allclose(W, Wr, rtol=1e-12, atol=1e-14)
    assert t.iteration == epochs * 3 and t.batch_pos == 0


def test_full_batch_history_with_test_set():
    """Full batch with a test set: history = the epoch's forward loss, test_loss at the same
    weights (before the update)."""
    cfg = Cfg((2, 3, 1), "sigmoid", "sigmoid")
    t, cfg, Ws, bs, X, Y, kw = make(n=6, batch_size=None, cfg=cfg, lr=0.5, test=True)
    assert t.run(4) == (4, None)
    hist, test_hist = [], []
    for _ in range(4):
        test_hist.append(ref.objective(cfg, Ws, bs, kw["X_test"], kw["Y_test"]))
        loss, gW, gb = ref.backprop(cfg, Ws, bs, X, Y)
        hist.append(loss)
        Ws = [W - 0.5 * g for W, g in zip(Ws, gW, strict=True)]
        bs = [b - 0.5 * g for b, g in zip(bs, gb, strict=True)]
    np.testing.assert_allclose(t.history.loss, hist, rtol=1e-12)
    np.testing.assert_allclose(t.history.test_loss, test_hist, rtol=1e-12)
