"""The loss history of a training session: one point per finished epoch, kept as growing lists
(appended by the Trainer) and converted to arrays for saving only for the points added since."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from app.nn.activations import Array
from app.nn.trace import IntArray

Columns = tuple[IntArray, Array, Array, Array]
GradNorms = tuple[float, ...]


def _grown(a: Columns, n: int, capacity: int) -> Columns:
    """New buffers of ``capacity`` rows holding the first ``n`` rows of ``a``."""
    out: list[np.ndarray] = []
    for col in a:
        b = np.empty((capacity, *col.shape[1:]), dtype=col.dtype)
        b[:n] = col[:n]
        out.append(b)
    return (out[0], out[1], out[2], out[3])


@dataclass
class History:
    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    test_loss: list[float | None] = field(default_factory=list)
    # ‖∂L/∂W_l‖ (Frobenius) per layer at the epoch's last batch; None where not recorded.
    # Tuples, not lists: a tuple of floats leaves the garbage collector's tracking, so a full
    # collection does not walk one object per epoch of every session (1.2 million for 60
    # students after ten minutes of Play: a pause of ~0.3 s).
    grad_norm: list[GradNorms | None] = field(default_factory=list)
    # The columns as arrays for the first n points (see columns()), kept with the list they
    # were made from: the lists only grow in place, and anything else replaces them. The
    # buffers may hold more rows than n (they grow by doubling).
    _columns: tuple[list[int], int, Columns] | None = field(
        default=None, repr=False, compare=False)

    def append(self, epoch: int, loss: float, test_loss: float | None,
               grad_norm: Sequence[float] | None = None) -> None:
        self.epoch.append(epoch)
        self.loss.append(loss)
        self.test_loss.append(test_loss)
        self.grad_norm.append(None if grad_norm is None else tuple(grad_norm))

    def columns(self, L: int) -> Columns:
        """epoch, loss, test loss (NaN where none) and the L gradient norms (NaN rows where
        none) as arrays, for saving and for the charts: converted once, then only the points
        added since (a session playing for ten minutes has ~24,000 points, saved after every
        tick with the Redis store, drawn in every Play frame), into buffers that grow by
        doubling, so a tick's cost does not grow with the history. The arrays returned are
        views of the first n rows: rows added later do not change them."""
        n = len(self.epoch)
        c = self._columns
        if c is not None and c[0] is self.epoch and c[1] <= n and c[2][3].shape[1] == L:
            k, bufs = c[1], c[2]
            if k < n:
                new = self._convert(k, n, L)
                if len(bufs[0]) < n:
                    bufs = _grown(bufs, k, max(n, 2 * len(bufs[0])))
                for b, v in zip(bufs, new, strict=True):
                    b[k:n] = v
        else:
            bufs = self._convert(0, n, L)
        self._columns = (self.epoch, n, bufs)
        return (bufs[0][:n], bufs[1][:n], bufs[2][:n], bufs[3][:n])

    def remember_columns(self, cols: Columns) -> None:
        """``cols`` are this history's columns (as loaded): the next save starts from them."""
        self._columns = (self.epoch, len(self.epoch), cols)

    def _convert(self, k: int, n: int, L: int) -> Columns:
        return (np.array(self.epoch[k:n], dtype=np.int64),
                np.array(self.loss[k:n], dtype=np.float64),
                np.array([np.nan if v is None else v for v in self.test_loss[k:n]],
                         dtype=np.float64),
                np.array([[np.nan] * L if g is None else g for g in self.grad_norm[k:n]],
                         dtype=np.float64).reshape(-1, L))

    def compact(self, limit: int) -> None:
        """Keep at most ``limit`` points by dropping every other one (first and last kept)."""
        while len(self.epoch) > limit:
            keep = [*range(0, len(self.epoch) - 1, 2), len(self.epoch) - 1]
            self.epoch = [self.epoch[i] for i in keep]
            self.loss = [self.loss[i] for i in keep]
            self.test_loss = [self.test_loss[i] for i in keep]
            self.grad_norm = [self.grad_norm[i] for i in keep]
