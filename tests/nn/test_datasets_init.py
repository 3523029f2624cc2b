"""Datasets (API.md §2) and reproducible initialisation."""

from __future__ import annotations

import numpy as np
import pytest

from app.nn import datasets
from app.nn.init import init_weights

# --- truth tables -----------------------------------------------------------------------------
INPUTS = [[0, 0], [0, 1], [1, 0], [1, 1]]  # the lesson's row order


@pytest.mark.parametrize(
    ("name", "targets"),
    [("xor", [0, 1, 1, 0]), ("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1])],
)
def test_truth_tables(name, targets):
    ds = datasets.truth_table(name)
    assert ds.X.dtype == np.float64 and ds.Y.dtype == np.float64
    assert ds.X.tolist() == INPUTS
    assert ds.Y.tolist() == [[t] for t in targets]
    assert ds.X_test is None and ds.Y_test is None
    assert ds.task == "classification"


def test_xor_is_the_lessons_array():
    # X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]]); y = np.array([[0], [1], [1], [0]])
    ds = datasets.truth_table("xor")
    assert np.array_equal(ds.X, np.array([[0, 0], [0, 1], [1, 0], [1, 1]]))
    assert np.array_equal(ds.Y, np.array([[0], [1], [1], [0]]))


# --- generated sets ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", datasets.GENERATED)
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_generated_sets(name, noise):
    a = datasets.generate(name, samples=200, noise=noise, test_ratio=0.25, seed=5)
    b = datasets.generate(name, samples=200, noise=noise, test_ratio=0.25, seed=5)
    c = datasets.generate(name, samples=200, noise=noise, test_ratio=0.25, seed=6)
    # deterministic given the seed, different for another seed
    for key in ("X", "Y", "X_test", "Y_test"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.X, c.X)
    # split sizes: round(200 · 0.25) = 50 test, 150 train
    assert a.X.shape == (150, 2) and a.Y.shape == (150, 1)
    assert a.X_test.shape == (50, 2) and a.Y_test.shape == (50, 1)
    X_all = np.concatenate([a.X, a.X_test])
    Y_all = np.concatenate([a.Y, a.Y_test])
    assert X_all.dtype == np.float64 and Y_all.dtype == np.float64
    assert np.all(np.isfinite(X_all)) and np.all(np.isfinite(Y_all))
    # on [-6, 6]²
    assert np.all(np.abs(X_all) <= 6.0)
    assert len(np.unique(X_all, axis=0)) > 190  # distinct points, not one repeated
    if name in datasets.CLASSIFICATION:
        assert a.task == "classification"
        assert set(np.unique(Y_all)) == {0.0, 1.0}
        assert 0.3 < Y_all.mean() < 0.7  # both classes well represented
    else:
        assert a.task == "regression"
        assert np.all((Y_all >= 0.0) & (Y_all <= 1.0))
        assert len(np.unique(Y_all)) > 100


@pytest.mark.parametrize(
    ("samples", "ratio", "n_test"),
    [(200, 0.5, 100), (200, 0.0, 0), (100, 0.1, 10), (40, 0.75, 30), (10, 0.3, 3), (2, 0.9, 1)],
)
def test_split_sizes(samples, ratio, n_test):
    ds = datasets.generate("circle", samples=samples, noise=0.1, test_ratio=ratio, seed=1)
    assert len(ds.X) == samples - n_test
    if n_test == 0:
        assert ds.X_test is None and ds.Y_test is None
    else:
        assert len(ds.X_test) == len(ds.Y_test) == n_test


def test_generated_shapes_follow_their_definitions_without_noise():
    """With noise 0 each labelled set is what its name says."""
    xs = datasets.generate("xor_scatter", samples=300, noise=0.0, test_ratio=0.0, seed=2)
    # label 1 where x·y ≥ 0 (first and third quadrants); points are kept off the axes
    assert np.array_equal(xs.Y[:, 0], (xs.X[:, 0] * xs.X[:, 1] >= 0).astype(float))
    assert np.min(np.abs(xs.X)) >= 0.3
    circle = datasets.generate("circle", samples=300, noise=0.0, test_ratio=0.0, seed=2)
    r = np.hypot(circle.X[:, 0], circle.X[:, 1])
    # inner disc (r < 2.25) is class 1, the ring (3.25 ≤ r ≤ 5) class 0
    assert np.all(circle.Y[r < 2.5, 0] == 1.0) and np.all(circle.Y[r > 3.0, 0] == 0.0)
    assert np.all(r <= 5.0 + 1e-12)
    gauss = datasets.generate("gauss", samples=400, noise=0.0, test_ratio=0.0, seed=2)
    pos, neg = gauss.X[gauss.Y[:, 0] == 1.0], gauss.X[gauss.Y[:, 0] == 0.0]
    np.testing.assert_allclose(pos.mean(axis=0), [2, 2], atol=0.15)
    np.testing.assert_allclose(neg.mean(axis=0), [-2, -2], atol=0.15)
    plane = datasets.generate("plane", samples=200, noise=0.0, test_ratio=0.0, seed=2)
    # y = (x₁ + x₂)/24 + ½: an exact plane through the data
    np.testing.assert_allclose(plane.Y[:, 0], (plane.X[:, 0] + plane.X[:, 1]) / 24 + 0.5,
                               rtol=0, atol=1e-15)


def test_infer_task_and_one_hot():
    assert datasets.infer_task(np.array([[0.0], [1.0]])) == "classification"
    assert datasets.infer_task(np.array([[0.0], [0.5]])) == "regression"
    assert datasets.one_hot_binary(np.array([[0.0], [1.0], [1.0]])).tolist() == [
        [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]
    ]


# --- initialisation ---------------------------------------------------------------------------
def test_uniform_seed_1_is_the_lessons_draw():
    state = np.random.get_state()
    try:
        np.random.seed(1)
        w0 = np.random.rand(2, 4)
        w1 = np.random.rand(4, 1)
    finally:
        np.random.set_state(state)
    Ws, bs = init_weights((2, 4, 1), "uniform", seed=1, low=0.0, high=1.0, bias=False)
    assert bs is None
    assert np.array_equal(Ws[0], w0) and np.array_equal(Ws[1], w1)
    # the printed start of the lesson's weights (np.random.seed(1); np.random.rand(2, 4))
    assert Ws[0][0, 0] == pytest.approx(0.417022004702574, abs=1e-15)
    assert Ws[0][0, 1] == pytest.approx(0.7203244934421581, abs=1e-15)


def test_weights_drawn_in_layer_order_from_one_randomstate():
    rs = np.random.RandomState(42)
    expected = [rs.rand(3, 5), rs.rand(5, 2), rs.rand(2, 2)]
    Ws, bs = init_weights((3, 5, 2, 2), "uniform", seed=42, bias=True, bias_value=0.25)
    for W, E in zip(Ws, expected, strict=True):
        assert np.array_equal(W, E)
    assert [b.tolist() for b in bs] == [[0.25] * 5, [0.25] * 2, [0.25] * 2]


@pytest.mark.parametrize("scheme", ["uniform", "normal", "xavier", "he"])
def test_same_seed_same_weights(scheme):
    a, _ = init_weights((4, 8, 3), scheme, seed=11)
    b, _ = init_weights((4, 8, 3), scheme, seed=11)
    c, _ = init_weights((4, 8, 3), scheme, seed=12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    assert [W.shape for W in a] == [(4, 8), (8, 3)]
    assert all(W.dtype == np.float64 and W.flags.c_contiguous for W in a)


def test_uniform_low_high():
    Ws, _ = init_weights((64, 64), "uniform", seed=3, low=-2.0, high=0.5)
    W = Ws[0]
    assert W.min() >= -2.0 and W.max() < 0.5
    assert W.mean() == pytest.approx(-0.75, abs=0.05)  # (low + high) / 2
    assert W.var() == pytest.approx(2.5**2 / 12, rel=0.1)


def test_xavier_bounds_and_variance():
    for n_in, n_out in ((64, 64), (64, 16), (10, 60)):
        Ws, _ = init_weights((n_in, n_out), "xavier", seed=0)
        W = Ws[0]
        limit = np.sqrt(6.0 / (n_in + n_out))
        assert np.all(np.abs(W) <= limit)
        assert np.abs(W).max() > 0.95 * limit  # fills the interval
        assert W.mean() == pytest.approx(0.0, abs=0.05)
        # Glorot uniform: Var = limit²/3 = 2/(n_in + n_out)
        assert W.var() == pytest.approx(2.0 / (n_in + n_out), rel=0.1)


def test_he_and_normal_statistics():
    Ws, _ = init_weights((64, 64, 64), "he", seed=0)
    for W in Ws:
        assert W.std() == pytest.approx(np.sqrt(2.0 / 64), rel=0.05)
        assert W.mean() == pytest.approx(0.0, abs=0.02)
    Ws, _ = init_weights((64, 64), "normal", seed=0, std=0.3)
    assert Ws[0].std() == pytest.approx(0.3, rel=0.05)
    assert Ws[0].mean() == pytest.approx(0.0, abs=0.02)
    # normal with std s is s × the standard normal draw of the same seed
    unit, _ = init_weights((64, 64), "normal", seed=0, std=1.0)
    np.testing.assert_allclose(Ws[0], 0.3 * unit[0], rtol=1e-15)


def test_biases():
    _, bs = init_weights((2, 3, 1), "xavier", seed=0)
    assert [b.tolist() for b in bs] == [[0.0, 0.0, 0.0], [0.0]]
    _, bs = init_weights((2, 3, 1), "xavier", seed=0, bias=False)
    assert bs is None


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown init scheme"):
        init_weights((2, 1), "orthogonal")
