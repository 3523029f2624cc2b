"""What the engine computed for one page render, computed at most once and read by every region.

The page shows the current batch's z, a, δ and gradients (the diagram, the inspector, the batch
table) and, beside them, the metrics over the whole training and test sets. When no pass is in
progress (before the first forward step, or while Play trains whole epochs) the page asks the
network itself: one forward pass over the rows it shows, and, while playing, one backward pass
over the batch. The session is unchanged.

The forward pass runs once over everything the render needs: with the whole sets (the split
metrics), over the training set followed by the test set, the batch being its rows; without them
(Play frames), over the batch alone, as a forward step would. Rows read from a larger pass
equal a pass over those rows alone to the digits the page shows, not always to the last bit
(BLAS may round a row's sums differently for a different number of rows): the exact values are
the ones a forward step stores and the API returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.nn.activations import Array
from app.sessions.model import Session


@dataclass(frozen=True)
class BatchPass:
    """The current batch through the network: ``zs[l]``, ``acts[l]`` (``acts[0]`` the inputs)
    and the targets, one row per sample of the batch, in the batch's order."""

    zs: list[Array]
    acts: list[Array]
    Y: Array


@dataclass(frozen=True)
class Gradients:
    """The backward pass over the batch: δ per layer (rows as the batch) and the gradients."""

    deltas: list[Array]
    grad_W: list[Array]
    grad_b: list[Array | None]


class Computed:
    """One render's engine work. ``whole_sets``: the render shows the split metrics, so the
    forward pass covers the whole training and test sets (and the batch is read from it)."""

    def __init__(self, s: Session, whole_sets: bool) -> None:
        self._s = s
        self._whole_sets = whole_sets
        self._forward: tuple[list[Array], list[Array]] | None = None
        self._batch: BatchPass | None = None
        self._grads: Gradients | None = None
        self._grads_done = False

    def _has_test(self) -> bool:
        d = self._s.trainer.data
        return d.X_test is not None and d.Y_test is not None and len(d.X_test) > 0

    def _pass(self) -> tuple[list[Array], list[Array]]:
        """The forward pass: the training set then the test set (whole_sets), or the batch."""
        if self._forward is None:
            t = self._s.trainer
            d = t.data
            if self._whole_sets:
                X = np.concatenate([d.X, d.X_test]) if self._has_test() else d.X
            else:
                X = d.X[t.batch_indices()]
            with np.errstate(all="ignore"):
                self._forward = t.net.forward(X)
        return self._forward

    def batch(self) -> BatchPass:
        """The current batch (``Trainer.batch_indices``) through the current weights."""
        if self._batch is None:
            t = self._s.trainer
            idx = t.batch_indices()
            zs, acts = self._pass()
            if self._whole_sets:
                zs, acts = [z[idx] for z in zs], [a[idx] for a in acts]
            self._batch = BatchPass(zs, acts, t.data.Y[idx])
        return self._batch

    def gradients(self) -> Gradients | None:
        """The backward pass over the batch; None when a gradient is not finite."""
        if not self._grads_done:
            self._grads_done = True
            b = self.batch()
            with np.errstate(all="ignore"):
                deltas, grad_W, grad_b = self._s.trainer.net.backward(b.zs, b.acts, b.Y)
            if all(np.isfinite(g).all() for g in grad_W):
                self._grads = Gradients(deltas, grad_W, grad_b)
        return self._grads

    def outputs(self) -> tuple[Array, Array | None]:
        """ŷ over the whole training set and over the test set (None without one)."""
        if not self._whole_sets:
            raise ValueError("this render's pass does not cover the whole sets")
        a = self._pass()[1][-1]
        n = len(self._s.trainer.data.X)
        return a[:n], (a[n:] if self._has_test() else None)
