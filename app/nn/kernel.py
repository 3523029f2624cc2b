"""The training loop's inner kernel: one forward + backward + update on a batch, in place.

It performs exactly the arithmetic of :class:`app.nn.network.Network`'s per-layer methods, in
the same order, so an epoch run here and an epoch stepped through layer by layer give the same
bits. What it saves is Python and allocation overhead: buffers are allocated once, the weights
of all layers live in one flat array (so the update and its finiteness check are one operation
each), and the new weights are written to a second buffer that is swapped in only when finite.

The kernel trains its own copy of the weights (copied in at construction, copied out by
``weights()``); the caller's network is never touched. It is the "numpy" implementation of the
kernel slot (app/nn/kernel_slot.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.nn.activations import Array
from app.nn.network import Network, quiet
from app.nn.norms import norms_from_squares
from app.nn.optimizers import SGD, Optimizer, OptState, rule
from app.nn.shapes import check_data, check_order

IntArray = NDArray[np.int64]
Norms = list[float] | None


@dataclass
class Chunk:
    """What a run of batches did: the accepted batches' losses in order; per batch tried, the
    test objective at its start (nan: not computed or not finite); whether the last one tried
    was refused as non-finite (then len(tests) == len(losses) + 1); and per accepted batch that
    ended an epoch, ‖∂L/∂W_l‖ per layer (None for the others, or when a kernel has none)."""

    losses: list[float]
    tests: list[float]
    diverged: bool
    norms: list[Norms] | None = None

    def norm(self, i: int) -> Norms:
        return None if self.norms is None else self.norms[i]


def _views(flat: Array, shapes: list[tuple[int, ...]]) -> list[Array]:
    views, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        views.append(flat[offset : offset + size].reshape(shape))
        offset += size
    return views


class Kernel:
    """Buffers for one network and one batch size. ``step`` returns the batch loss, or None
    when the loss or the new weights are not finite (then nothing is changed)."""

    name = "numpy"

    def __init__(self, net: Network, learning_rate: float, train_bias: bool,
                 X: Array | None = None, Y: Array | None = None,
                 X_test: Array | None = None, Y_test: Array | None = None,
                 optimizer: Optimizer = SGD, opt_state: OptState | None = None) -> None:
        spec = net.spec
        if X is not None and Y is not None:
            check_data(spec.layers, X, Y, X_test, Y_test)
        self.lr = learning_rate
        self.X, self.Y, self.X_test, self.Y_test = X, Y, X_test, Y_test
        self.L = spec.L
        self.acts = [spec.activation(l) for l in range(1, self.L + 1)]
        shapes: list[tuple[int, ...]] = [W.shape for W in net.W]
        self.train_b = net.b is not None and train_bias
        if self.train_b:
            shapes += [(k,) for k in spec.layers[1:]]
        self.n_W = len(net.W)
        # Two parameter buffers: current and next; the grads buffer has the same layout.
        self.params = [np.empty(sum(math.prod(s) for s in shapes)) for _ in range(2)]
        self.grads = np.empty_like(self.params[0])
        self.param_views = [_views(p, shapes) for p in self.params]
        self.grad_views = _views(self.grads, shapes)
        self.cur = 0
        ps = list(net.W) + (list(net.b) if self.train_b and net.b is not None else [])
        for dst, src in zip(self.param_views[0], ps, strict=True):
            dst[...] = src
        # The kernel's own network over its buffers (a frozen bias is copied once).
        self.net = Network(spec, [], None if net.b is None else [b.copy() for b in net.b])
        self._bind()
        self.widths = spec.layers[1:]
        self.mean = spec.reduction == "mean"
        self.se = spec.loss == "squared_error"
        # Activation buffers per batch size (the last mini-batch may be smaller).
        self.buffers: dict[int, tuple[list[Array], ...]] = {}
        self._n = -1
        self.last_loss: float | None = None
        self._last_Y: Array | None = None
        self._last_out: Array | None = None
        self._spare: dict[int, Array] = {}
        self._sq: dict[int, Array] = {}
        self.ones = np.full_like(self.grads, 2.0**-60)
        # Per-layer ‖∂L/∂W_l‖ of the last step, computed only when asked (the history's
        # learning-dynamics chart).
        self.record_norms = False
        self.grad_sq: Array | None = None  # Σ (∂L/∂W_l)² per layer, one reduceat call
        self._w_size = sum(W.size for W in net.W)
        self._w_offsets = np.cumsum([0] + [W.size for W in net.W[:-1]])
        self._sq_buf = np.empty(self._w_size)
        self.reg = spec.regularization
        self.reg_active = self.reg.active
        # The activations' in-place forms (app/nn/activations.py), bit for bit f and f'.
        self.fwd = [act.into for act in self.acts]
        self.times_prime = [act.times_prime for act in self.acts]
        # The optimizer's moments over the same flat layout as the parameters (a frozen
        # bias's moments are kept aside, unchanged).
        self.opt = optimizer
        state = opt_state or OptState.zeros(optimizer, net.param_shapes())
        self.t = state.step
        self.shapes = shapes
        self.state_in = state

        def flat(xs: tuple[Array, ...] | None) -> Array | None:
            return None if xs is None else np.concatenate(
                [x.ravel() for x in xs[: len(shapes)]]).astype(np.float64)

        self.m, self.v = flat(state.m), flat(state.v)

    def _buffers(self, n: int) -> tuple[list[Array], ...]:
        bufs = self.buffers.get(n)
        if bufs is None:
            bufs = self.buffers[n] = tuple(
                [np.empty((n, k)) for k in self.widths] for _ in range(4)
            )
            self._spare[n] = np.empty((n, self.widths[-1]))
            self._sq[n] = np.empty((n, self.widths[-1]))
        return bufs

    def _bind(self) -> None:
        """Point the kernel's own network at the current buffer's views."""
        views = self.param_views[self.cur]
        self.net.W = views[: self.n_W]
        if self.train_b:
            self.net.b = views[self.n_W :]

    def step(self, X: Array, Y: Array) -> float | None:
        net, L = self.net, self.L  # the kernel's own network, over its buffers
        Ws, bs = net.W, net.b
        n = len(X)
        if n != self._n:
            self._n = n
            self.z, self.a, self.delta, self.tmp = self._buffers(n)
        z, a, delta, tmp = self.z, self.a, self.delta, self.tmp
        fwd, times_prime = self.fwd, self.times_prime
        # Keep the last accepted ŷ intact: a pass refused at its loss must not overwrite it.
        if a[L - 1] is self._last_out:
            a[L - 1], self._spare[n] = self._spare[n], a[L - 1]
        # forward: z = a_prev W + b, a = f(z)
        a_prev = X
        for i in range(L):
            zi = a_prev.dot(Ws[i], out=z[i])
            if bs is not None:
                zi += bs[i]
            a_prev = fwd[i](zi, a[i])
        # loss and output delta (as Network.reduce_loss and Network.output_delta)
        d = delta[L - 1]
        if self.se:
            np.subtract(a_prev, Y, d)
            # ½·Σ err² as numpy's own pairwise sum of the squares (as Network.reduce_loss):
            # a BLAS dot would round differently per CPU kernel (OPENBLAS_CORETYPE).
            sq = self._sq[n]
            np.multiply(d, d, sq)
            total = 0.5 * float(sq.ravel().sum())
        else:
            total = float(np.sum(net.per_sample_loss(a_prev, Y, z[L - 1])))
        if self.mean:
            total /= n
        if self.reg_active:
            total += self.reg.value(Ws)
        if not math.isfinite(total):
            return None
        self.last_loss, self._last_Y, self._last_out = total, Y, a[L - 1]
        if self.se:
            times_prime[L - 1](d, z[L - 1], a[L - 1], tmp[L - 1])
            if self.mean:
                d *= 1.0 / n
        else:
            d[...] = net.output_delta(z[L - 1], a_prev, Y)
        # backward: grad_W = a_prevᵀ delta, delta_prev = (delta Wᵀ) ⊙ f'(z_prev)
        gW = self.grad_views
        for i in range(L - 1, -1, -1):
            d = delta[i]
            (a[i - 1] if i else X).T.dot(d, out=gW[i])
            if self.reg_active:
                reg_grad = self.reg.grad(Ws[i])
                assert reg_grad is not None
                gW[i] += reg_grad
            if self.train_b:
                d.sum(axis=0, out=gW[self.n_W + i])
            if i:
                g = d.dot(Ws[i].T, out=delta[i - 1])
                times_prime[i - 1](g, z[i - 1], a[i - 1], tmp[i - 1])
        if self.record_norms:
            g = self.grads[: self._w_size]
            self.grad_sq = np.add.reduceat(np.square(g, out=self._sq_buf), self._w_offsets)
        # the optimizer's update (app/nn/optimizers.py) into the spare buffer; kept if finite
        nxt = 1 - self.cur
        new, m, v = rule(self.opt, self.lr, self.t + 1, self.params[self.cur], self.grads,
                         self.m, self.v, out=self.params[nxt])
        # One dot product with 2⁻⁶⁰ everywhere: an inf or nan anywhere makes it non-finite,
        # and scaled down, finite weights (even 1.7e308 each) cannot overflow the sum.
        if not all(math.isfinite(float(x.dot(self.ones))) for x in (new, m, v)
                   if x is not None):
            return None
        self.m, self.v = m, v
        self.t += 1
        self.cur = nxt
        self._bind()
        return total

    @property
    def grad_norm(self) -> list[float] | None:
        """‖∂L/∂W_l‖ per layer of the last recorded step."""
        return None if self.grad_sq is None else norms_from_squares(self.grad_sq[None, :])[0]

    def last_output(self) -> tuple[float, Array, Array] | None:
        """The loss, ŷ and the targets of the last finite forward pass (copies), if any."""
        if self.last_loss is None or self._last_Y is None or self._last_out is None:
            return None
        return self.last_loss, self._last_out.copy(), self._last_Y.copy()

    def weights(self) -> tuple[list[Array], list[Array] | None]:
        """Copies of the current weights (new arrays: the caller rebinds explicitly)."""
        net = self.net
        return [W.copy() for W in net.W], None if net.b is None else [b.copy() for b in net.b]

    def opt_state(self) -> OptState:
        """The optimizer's state now (new arrays; a frozen bias's moments as they came in)."""
        given = self.state_in

        def split(flat: Array | None, old: tuple[Array, ...] | None
                  ) -> tuple[Array, ...] | None:
            if flat is None or old is None:
                return None
            return tuple([x.copy() for x in _views(flat, self.shapes)] + list(old[len(
                self.shapes):]))

        return OptState(self.t, split(self.m, given.m), split(self.v, given.v))

    def batches_per_chunk(self, batch_size: int) -> int:
        # Python per batch: read the clock every 64 small batches, every batch on large ones.
        work = batch_size * sum(self.widths) * 8
        return 64 if work < 4096 else 1

    @quiet
    def run_batches(self, order: IntArray, batch_size: int, n_batches: int, start: int,
                    stop: int, test_first: bool) -> Chunk:
        """Batches start..stop−1, batch j being rows (j % n_batches)·batch_size … of its
        epoch's order; ``order`` holds the orders of the epochs the chunk touches, one after
        another (epoch ⌊j / n_batches⌋ of the chunk at ⌊j / n_batches⌋·n)."""
        assert self.X is not None and self.Y is not None
        X_all, Y_all = self.X, self.Y
        n_rows = len(X_all)
        check_order(order, n_rows, batch_size, n_batches, start, stop)
        whole = n_batches == 1 and len(order) == len(X_all)
        has_test = self.X_test is not None and self.Y_test is not None and len(self.X_test)
        losses: list[float] = []
        tests: list[float] = []
        squares: list[Array | None] = []
        for j in range(start, stop):
            pos = j % n_batches
            test = math.nan
            if has_test and pos == 0 and (j > start or test_first):
                test = self._test_objective()
            tests.append(test)
            if whole:
                X, Y = X_all, Y_all
            else:
                base = (j // n_batches) * n_rows % len(order)
                idx = order[base + pos * batch_size : base + min((pos + 1) * batch_size, n_rows)]
                X, Y = X_all[idx], Y_all[idx]
            # Gradient norms at the epoch's last batch only (the history's point).
            self.record_norms = pos == n_batches - 1
            loss = self.step(X, Y)
            if loss is None:
                return Chunk(losses, tests, True, self._norms(squares))
            losses.append(loss)
            squares.append(self.grad_sq if self.record_norms else None)
        return Chunk(losses, tests, False, self._norms(squares))

    @staticmethod
    def _norms(squares: list[Array | None]) -> list[Norms]:
        """Square roots of all recorded steps at once, off the hot loop."""
        rows = [sq for sq in squares if sq is not None]
        roots = iter(norms_from_squares(np.array(rows)) if rows else [])
        return [None if sq is None else next(roots) for sq in squares]

    def _test_objective(self) -> float:
        assert self.X_test is not None and self.Y_test is not None
        zs, acts = self.net.forward(self.X_test)
        return self.net.objective(acts[-1], self.Y_test, zs[-1])[0]
