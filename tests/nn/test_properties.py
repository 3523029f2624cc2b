"""Hypothesis properties: trace shapes, reproducibility of a seed, gradients against
independent finite differences on random small nets, and exact session serialisation."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from app.config import Settings
from app.nn.gradcheck import gradcheck
from app.nn.init import init_weights
from app.sessions.config import SessionConfig, normalize
from app.sessions.model import Session
from tests.nn import reference as ref
from tests.nn.reference import HIDDEN, OUTPUTS, REGULARIZATIONS, Cfg
from tests.nn.util import engine_grads, network, trainer

SETTINGS = Settings()
PROPS = settings(max_examples=30, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


@st.composite
def nets(draw, max_width=4, max_hidden=2):
    """(cfg, target kind, n samples, batch size, seed) for a random small network."""
    out_act, loss, target_kind = draw(st.sampled_from(OUTPUTS))
    n_out = draw(st.integers(2 if out_act == "softmax" else 1, 3))
    hidden = draw(st.lists(st.integers(1, max_width), min_size=0, max_size=max_hidden))
    reg_kind, reg_rate = draw(st.sampled_from(REGULARIZATIONS))
    cfg = Cfg(
        (draw(st.integers(1, 3)), *hidden, n_out),
        hidden=draw(st.sampled_from(HIDDEN)), output=out_act, loss=loss,
        reduction=draw(st.sampled_from(("sum", "mean"))), bias=draw(st.booleans()),
        reg_kind=reg_kind, reg_rate=reg_rate,
    )
    n = draw(st.integers(1, 9))
    batch = draw(st.one_of(st.none(), st.integers(1, 10)))
    return cfg, target_kind, n, batch, draw(st.integers(0, 2**16))


def random_trainer(cfg, target_kind, n, batch, seed, lr=0.05, **kw):
    rng = np.random.RandomState(seed)
    Ws = [rng.normal(0, 0.7, (a, b)) for a, b in itertools.pairwise(cfg.layers)]
    bs = [rng.normal(0, 0.2, b) for b in cfg.layers[1:]] if cfg.bias else None
    X = rng.normal(0, 1, (n, cfg.layers[0]))
    Y = ref.targets(target_kind, rng, n, cfg.layers[-1])
    return trainer(cfg, Ws, bs, X, Y, lr, batch_size=batch, shuffle_seed=seed, **kw)


# --- shapes -----------------------------------------------------------------------------------
@PROPS
@given(nets())
def test_trace_shapes(net):
    cfg, target_kind, n, batch, seed = net
    t = random_trainer(cfg, target_kind, n, batch, seed)
    L, widths = len(cfg.layers) - 1, cfg.layers
    bsz = n if batch is None else min(batch, n)
    expected_sizes = [bsz] * (n // bsz) + ([n % bsz] if n % bsz else [])
    sizes = []
    for _ in range(len(expected_sizes)):
        for l in range(1, L + 1):
            assert (t.phase, t.layer) == ("forward", l)
            assert t.forward_step()
            m = len(t.trace.indices)
            for k in range(L):
                if k < l:
                    assert t.trace.z[k].shape == t.trace.a[k].shape == (m, widths[k + 1])
                else:
                    assert t.trace.z[k] is None and t.trace.a[k] is None
            assert all(d is None for d in t.trace.delta)
        sizes.append(m)
        assert t.trace.per_sample_loss.shape == (m,)
        assert np.isscalar(t.trace.loss) and np.isfinite(t.trace.loss)
        for l in range(L, 0, -1):
            assert (t.phase, t.layer) == ("backward", l)
            assert t.backward_step()
            k = l - 1
            assert t.trace.delta[k].shape == (m, widths[l])
            assert t.trace.grad_W[k].shape == (widths[l - 1], widths[l])
            if cfg.bias:
                assert t.trace.grad_b[k].shape == (widths[l],)
            else:
                assert t.trace.grad_b[k] is None
            assert all(d is None for d in t.trace.delta[:k])
        assert (t.phase, t.layer) == ("update", None)
        assert t.update_step()
        assert [W.shape for W in t.net.W] == list(itertools.pairwise(widths))
        if cfg.bias:
            assert [b.shape for b in t.net.b] == [(w,) for w in widths[1:]]
    assert sizes == expected_sizes
    assert t.epoch == 1 and len(t.history.loss) == 1


# --- reproducibility --------------------------------------------------------------------------
@PROPS
@given(
    layers=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    scheme=st.sampled_from(("uniform", "normal", "xavier", "he")),
    seed=st.integers(0, 2**32 - 1),
    bias=st.booleans(),
)
def test_same_seed_same_weights(layers, scheme, seed, bias):
    a, ab = init_weights(layers, scheme, seed=seed, bias=bias)
    b, bb = init_weights(layers, scheme, seed=seed, bias=bias)
    assert [W.shape for W in a] == list(itertools.pairwise(layers))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert (ab is None) == (bb is None) == (not bias)
    # The weights are those of a fresh RandomState(seed) drawn layer by layer (uniform case).
    if scheme == "uniform":
        rs = np.random.RandomState(seed)
        assert all(np.array_equal(W, rs.rand(*W.shape)) for W in a)


@PROPS
@given(nets(), st.integers(1, 4))
def test_same_seed_same_training(net, epochs):
    cfg, target_kind, n, batch, seed = net
    a = random_trainer(cfg, target_kind, n, batch, seed)
    b = random_trainer(cfg, target_kind, n, batch, seed)
    ra, rb = a.run(epochs), b.run(epochs)
    assert ra == rb
    assert all(np.array_equal(x, y) for x, y in zip(a.net.W, b.net.W, strict=True))
    assert a.history.loss == b.history.loss
    assert all(np.isfinite(a.history.loss))


# --- gradients --------------------------------------------------------------------------------
@PROPS
@given(nets(max_width=3), st.integers(0, 2**16))
def test_gradients_match_independent_finite_differences(net, seed):
    cfg, target_kind, n, _, _ = net
    try:
        Ws, bs, X, Y = ref.random_problem(cfg, target_kind, seed=seed, n=n, attempts=20)
    except ref.NoKinkFreeSample:
        reject()
    engine = network(cfg, Ws, bs)
    gW, gb = engine_grads(engine, X, Y)
    nW, nb = ref.numeric_grads(cfg, Ws, bs, X, Y)
    atol = max(1e-8, 1e-9 * abs(ref.objective(cfg, Ws, bs, X, Y)))
    for l in range(len(Ws)):
        np.testing.assert_allclose(gW[l], nW[l], rtol=1e-5, atol=atol)
        if cfg.bias:
            np.testing.assert_allclose(gb[l], nb[l], rtol=1e-5, atol=atol)
    for l, c in enumerate(gradcheck(engine, X, Y)):
        np.testing.assert_allclose(c.grad_W_numeric, nW[l], rtol=1e-5, atol=atol)
        if cfg.bias:
            np.testing.assert_allclose(c.grad_b_numeric, nb[l], rtol=1e-5, atol=atol)


# --- sessions ---------------------------------------------------------------------------------
@st.composite
def session_configs(draw):
    out_act, loss, target_kind = draw(st.sampled_from(OUTPUTS))
    kind = draw(st.sampled_from(("xor", "and", "circle", "spiral", "inline")))
    if kind == "inline":
        n_in = draw(st.integers(1, 3))
        n_out = draw(st.integers(2 if out_act == "softmax" else 1, 3))
        rng = np.random.RandomState(draw(st.integers(0, 1000)))
        n, n_test = draw(st.integers(1, 8)), draw(st.integers(0, 3))
        dataset = {"X": rng.normal(0, 1, (n, n_in)).tolist(),
                   "Y": ref.targets(target_kind, rng, n, n_out).tolist()}
        if n_test:
            dataset["X_test"] = rng.normal(0, 1, (n_test, n_in)).tolist()
            dataset["Y_test"] = ref.targets(target_kind, rng, n_test, n_out).tolist()
    else:
        if target_kind == "real" or (out_act == "softmax" and target_kind == "soft"):
            target_kind = "binary"  # named sets have 0/1 labels
        n_in, n_out = 2, (2 if out_act == "softmax" else 1)
        dataset = {"name": kind}
        if kind in ("circle", "spiral"):
            dataset.update(samples=draw(st.integers(4, 24)),
                           test_ratio=draw(st.sampled_from((0.0, 0.25))),
                           seed=draw(st.integers(0, 100)))
    hidden = draw(st.lists(st.integers(1, 4), max_size=2))
    reg_kind, reg_rate = draw(st.sampled_from(REGULARIZATIONS))
    return SessionConfig(
        layers=[n_in, *hidden, n_out],
        hidden_activation=draw(st.sampled_from(HIDDEN)),
        output_activation=out_act,
        loss=loss,
        reduction=draw(st.sampled_from(("sum", "mean"))),
        learning_rate=draw(st.sampled_from((0.01, 0.1, 0.5))),
        bias=draw(st.booleans()),
        train_bias=draw(st.booleans()),
        init={"scheme": draw(st.sampled_from(("uniform", "normal", "xavier", "he"))),
              "seed": draw(st.integers(0, 2**32 - 1))},
        dataset=dataset,
        batch_size=draw(st.one_of(st.none(), st.integers(1, 6))),
        regularization={"kind": reg_kind, "rate": reg_rate},
    )


def _eq(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def _eq_list(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))


def assert_sessions_equal(s: Session, r: Session) -> None:
    assert (s.id, s.config, s.task, s.last_used) == (r.id, r.config, r.task, r.last_used)
    a, b = s.trainer, r.trainer
    assert a.net.spec == b.net.spec
    assert _eq_list(a.net.W, b.net.W) and _eq_list(a.net.b, b.net.b)
    for key in ("X", "Y", "X_test", "Y_test"):
        assert _eq(getattr(a.data, key), getattr(b.data, key)), key
    for key in ("learning_rate", "batch_size", "train_bias", "shuffle_seed", "epoch",
                "iteration", "batch_pos", "epoch_loss_sum", "epoch_test_loss", "phase",
                "layer", "status", "last_loss"):
        assert _eq(getattr(a, key), getattr(b, key)), key
    assert _eq(a.last_output, b.last_output) and _eq(a.last_targets, b.last_targets)
    assert a.history.epoch == b.history.epoch
    assert a.history.loss == b.history.loss
    assert a.history.test_loss == b.history.test_loss
    assert (a.trace is None) == (b.trace is None)
    if a.trace is not None:
        assert _eq(a.trace.indices.astype(np.int64), b.trace.indices.astype(np.int64))
        for key in ("z", "a", "delta", "grad_W", "grad_b"):
            assert _eq_list(getattr(a.trace, key), getattr(b.trace, key)), key
        assert _eq(a.trace.loss, b.trace.loss)
        assert _eq(a.trace.per_sample_loss, b.trace.per_sample_loss)


def drive(t, steps: int, epochs: int) -> None:
    for _ in range(steps):
        t.step()
    if epochs:
        t.run(epochs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_configs(), st.integers(0, 25), st.integers(0, 2), st.integers(0, 12))
def test_session_round_trip_is_exact_and_training_continues_identically(
    cfg, steps, epochs, more_steps
):
    config = normalize(cfg, SETTINGS)
    s = Session.create(config, SETTINGS)
    drive(s.trainer, steps, epochs)
    for _ in range(more_steps % 5):  # leave a pass in progress at some cursor
        s.trainer.step()
    r = Session.from_bytes(s.to_bytes(), SETTINGS)
    assert_sessions_equal(s, r)
    # a second round trip is a fixed point
    assert_sessions_equal(r, Session.from_bytes(r.to_bytes(), SETTINGS))
    # continuing: finish the pass one step at a time, then run, then step again
    for sess in (s, r):
        drive(sess.trainer, more_steps, 2)
        drive(sess.trainer, 3, 0)
    assert_sessions_equal(s, r)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_configs(), st.integers(1, 3))
def test_same_config_same_session(cfg, epochs):
    """Two sessions from the same config (same seeds): identical weights, data and training."""
    config = normalize(cfg, SETTINGS)
    a, b = Session.create(config, SETTINGS), Session.create(config, SETTINGS)
    b.id = a.id
    b.last_used = a.last_used
    assert_sessions_equal(a, b)
    a.trainer.run(epochs)
    b.trainer.run(epochs)
    assert_sessions_equal(a, b)
