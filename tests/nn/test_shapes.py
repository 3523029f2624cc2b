"""Both training kernels refuse data that does not fit the network, before any loop runs (the
compiled loop has no bounds checks: it would read past the rows; issue 23)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from app.nn import numba_kernel
from app.nn.kernel import Kernel
from app.nn.network import Network, Spec
from app.nn.shapes import ShapeError
from app.nn.stepper import Data, Hyper, Trainer

KERNELS: list[Any] = [Kernel, pytest.param(
    numba_kernel.NumbaKernel, marks=pytest.mark.skipif(not numba_kernel.available(),
                                                      reason="numba not installed"))]


def net(layers: tuple[int, ...] = (2, 3, 1)) -> Network:
    rng = np.random.default_rng(0)
    Ws = [rng.normal(size=(a, b)) for a, b in itertools.pairwise(layers)]
    return Network(Spec(layers, "tanh", "sigmoid", "squared_error"), Ws,
                   [np.zeros(b) for b in layers[1:]])


def make(kind: Any, X: Any, Y: Any, Xt: Any = None, Yt: Any = None) -> Any:
    if kind is numba_kernel.NumbaKernel:
        numba_kernel.warm()
    return kind(net(), 0.1, True, X, Y, Xt, Yt)


@pytest.mark.parametrize("kind", KERNELS)
@pytest.mark.parametrize(("X", "Y", "Xt", "Yt", "message"), [
    (np.zeros((4, 3)), np.zeros((4, 1)), None, None, "takes 2 values"),  # rows too wide
    (np.zeros((4, 1)), np.zeros((4, 1)), None, None, "takes 2 values"),  # rows too narrow
    (np.zeros(4), np.zeros((4, 1)), None, None, "takes 2 values"),  # not a matrix
    (np.zeros((4, 2)), np.zeros((3, 1)), None, None, r"expected \(4, 1\)"),  # fewer targets
    (np.zeros((4, 2)), np.zeros((4, 2)), None, None, r"expected \(4, 1\)"),  # too wide
    (np.zeros((4, 2)), np.zeros((4, 1)), np.zeros((2, 1)), np.zeros((2, 1)), "test inputs"),
    (np.zeros((4, 2)), np.zeros((4, 1)), np.zeros((2, 2)), np.zeros((1, 1)), "test targets"),
    (np.zeros((4, 2)), np.zeros((4, 1)), np.zeros((2, 2)), None, "both"),
])
def test_data_that_does_not_fit_is_refused(kind: Any, X: Any, Y: Any, Xt: Any, Yt: Any,
                                           message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        make(kind, X, Y, Xt, Yt)


@pytest.mark.parametrize("kind", KERNELS)
@pytest.mark.parametrize(("order", "bs", "nb", "message"), [
    ([0, 1, 2, 4], 2, 2, "outside"),  # row 4 of 4
    ([0, 1, -1, 3], 2, 2, "outside"),  # a negative row would wrap round
    ([0, 1, 2], 2, 2, "whole epochs"),
    ([0, 1, 2, 3, 0, 1], 2, 2, "whole epochs"),
    ([0, 1, 2, 3], 2, 3, "do not cover"),
    ([0, 1, 2, 3], 0, 2, "do not cover"),
])
def test_orders_outside_the_rows_are_refused(kind: Any, order: list[int], bs: int, nb: int,
                                             message: str) -> None:
    k = make(kind, np.zeros((4, 2)), np.zeros((4, 1)))
    with pytest.raises(ShapeError, match=message):
        k.run_batches(np.array(order, dtype=np.int64), bs, nb, 0, nb, True)


@pytest.mark.parametrize("kind", ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_kernel.available(), reason="numba not installed"))])
def test_a_trainer_with_rows_wider_than_its_inputs_does_not_train(kind: Any) -> None:
    """The issue's corruption: 3 values per row under a 2-input network."""
    t = Trainer(net=net(), data=Data(np.ones((5, 3)), np.ones((5, 1))), hyper=Hyper(0.1,
                batch_size=2))
    W0 = [W.copy() for W in t.net.W]
    with pytest.raises(ShapeError):
        t.run(3, kernel=kind)
    assert all((a == b).all() for a, b in zip(W0, t.net.W, strict=True))
    assert t.epoch == 0
