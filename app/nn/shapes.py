"""Shape checks where data enters a training kernel.

The compiled loop (app/nn/compiled.py) indexes raw buffers without bounds checks: a row of X
narrower than layers[0], a target row narrower than the output layer or an order that names a
row past the data would read outside the arrays, silently. These checks run once per kernel
(and per chunk for the order: O(n)), and raise :class:`ShapeError` instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from app.nn.activations import Array


class ShapeError(ValueError):
    """Data that does not fit the network (a bug upstream: never train on it)."""


def check_data(layers: Sequence[int], X: Array, Y: Array, X_test: Array | None,
               Y_test: Array | None) -> None:
    n_in, n_out = int(layers[0]), int(layers[-1])
    for name, A, B in (("training", X, Y), ("test", X_test, Y_test)):
        if A is None or B is None:
            if A is not None or B is not None:
                raise ShapeError(f"the {name} inputs and targets must both be given")
            continue
        if A.ndim != 2 or A.shape[1] != n_in:
            raise ShapeError(f"the {name} inputs have shape {A.shape}; the network takes "
                             f"{n_in} values per row")
        if B.ndim != 2 or B.shape != (A.shape[0], n_out):
            raise ShapeError(f"the {name} targets have shape {B.shape}; expected "
                             f"({A.shape[0]}, {n_out})")


def check_order(order: NDArray[np.int64], n_samples: int, batch_size: int, n_batches: int,
                start: int, stop: int) -> None:
    """``order`` holds whole epochs' orders of rows 0..n_samples−1 (``n_batches`` batches
    of ``batch_size`` rows each per epoch)."""
    if n_samples < 1 or batch_size < 1 or n_batches != -(-n_samples // batch_size):
        raise ShapeError(f"{n_batches} batches of {batch_size} do not cover {n_samples} rows")
    if order.ndim != 1 or len(order) < n_samples or len(order) % n_samples:
        raise ShapeError(f"the order holds {len(order)} rows; expected whole epochs of "
                         f"{n_samples}")
    # (epoch e of the chunk starts at e·n_samples modulo len(order): whole epochs stay inside)
    if not 0 <= start <= stop:
        raise ShapeError(f"batches {start}..{stop}: not a range")
    if len(order) and (int(np.min(order)) < 0 or int(np.max(order)) >= n_samples):
        raise ShapeError(f"the order names rows outside 0..{n_samples - 1}")
