"""The training loop's inner kernel: one forward + backward + update on a batch, in place.

It performs exactly the arithmetic of :class:`app.nn.network.Network`'s per-layer methods, in
the same order, so an epoch run here and an epoch stepped through layer by layer give the same
bits. What it saves is Python and allocation overhead: buffers are allocated once, the weights
of all layers live in one flat array (so the update and its finiteness check are one operation
each), and the new weights are written to a second buffer that is swapped in only when finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from app.nn.activations import Array
from app.nn.network import Network
from app.nn.norms import norms_from_squares


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

    def __init__(self, net: Network, learning_rate: float, train_bias: bool) -> None:
        spec = net.spec
        self.net, self.lr = net, learning_rate
        self.L = spec.L
        self.acts = [spec.activation(l) for l in range(1, self.L + 1)]
        self.names = [act.name for act in self.acts]
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
        for dst, src in zip(self.param_views[0], self._net_params(), strict=True):
            dst[...] = src
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
        self.ones = np.ones_like(self.grads)
        # Per-layer ‖∂L/∂W_l‖ of the last step, computed only when asked (the history's
        # learning-dynamics chart); the update below scales the gradient buffer in place.
        self.record_norms = False
        self.grad_sq: Array | None = None  # Σ (∂L/∂W_l)² per layer, one reduceat call
        self._w_size = sum(W.size for W in net.W)
        self._w_offsets = np.cumsum([0] + [W.size for W in net.W[:-1]])
        self._sq_buf = np.empty(self._w_size)
        self.reg = spec.regularization
        self.reg_active = self.reg.active
        self.fwd = [
            self._f_sigmoid if name == "sigmoid" else self._f_generic(i)
            for i, name in enumerate(self.names)
        ]
        primes = {"sigmoid": self._prime_sigmoid, "tanh": self._prime_tanh}
        self.times_prime = [primes.get(name, self._prime_generic) for name in self.names]

    def _buffers(self, n: int) -> tuple[list[Array], ...]:
        bufs = self.buffers.get(n)
        if bufs is None:
            bufs = self.buffers[n] = tuple(
                [np.empty((n, k)) for k in self.widths] for _ in range(4)
            )
            self._spare[n] = np.empty((n, self.widths[-1]))
        return bufs

    def _net_params(self) -> list[Array]:
        ps = list(self.net.W)
        if self.train_b:
            assert self.net.b is not None
            ps += self.net.b
        return ps

    def _bind(self) -> None:
        """Point the network's W (and b) at the current buffer's views."""
        views = self.param_views[self.cur]
        self.net.W = views[: self.n_W]
        if self.train_b:
            self.net.b = views[self.n_W :]

    def step(self, X: Array, Y: Array) -> float | None:
        net, L = self.net, self.L
        Ws, bs = net.W, net.b
        n = len(X)
        if n != self._n:
            self._n = n
            self.z, self.a, self.delta, self.tmp = self._buffers(n)
        z, a, delta = self.z, self.a, self.delta
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
            flat = d.ravel()
            total = 0.5 * float(flat.dot(flat))
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
            times_prime[L - 1](L - 1, d)
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
                times_prime[i - 1](i - 1, d.dot(Ws[i].T, out=delta[i - 1]))
        if self.record_norms:
            g = self.grads[: self._w_size]
            self.grad_sq = np.add.reduceat(np.square(g, out=self._sq_buf), self._w_offsets)
        # update into the spare buffer; keep it only if finite
        self.grads *= self.lr
        nxt = 1 - self.cur
        new = np.subtract(self.params[self.cur], self.grads, self.params[nxt])
        # One dot product: an inf or nan anywhere makes it non-finite.
        if not math.isfinite(float(new.dot(self.ones))):
            return None
        self.cur = nxt
        self._bind()
        return total

    @property
    def grad_norm(self) -> list[float] | None:
        """‖∂L/∂W_l‖ per layer of the last recorded step."""
        return None if self.grad_sq is None else norms_from_squares(self.grad_sq[None, :])[0]

    def last_output(self) -> tuple[Array, Array]:
        """ŷ and the targets of the last finite forward pass (copies)."""
        assert self._last_Y is not None and self._last_out is not None
        return self._last_out.copy(), self._last_Y.copy()

    # In-place activations and f' products, matching activations.py bit for bit.
    def _f_sigmoid(self, z: Array, out: Array) -> Array:
        np.negative(z, out)
        np.exp(out, out)
        out += 1.0
        return np.divide(1.0, out, out)

    def _f_generic(self, i: int) -> Callable[[Array, Array], Array]:
        f = self.acts[i].f

        def fwd(z: Array, out: Array) -> Array:
            out[...] = f(z)
            return out

        return fwd

    def _prime_sigmoid(self, i: int, g: Array) -> None:
        a, t = self.a[i], self.tmp[i]
        np.subtract(1.0, a, t)
        np.multiply(a, t, t)
        g *= t

    def _prime_tanh(self, i: int, g: Array) -> None:
        a, t = self.a[i], self.tmp[i]
        np.multiply(a, a, t)
        np.subtract(1.0, t, t)
        g *= t

    def _prime_generic(self, i: int, g: Array) -> None:
        g[...] = self.acts[i].backward(self.z[i], self.a[i], g)
