"""The "numba" implementation of the kernel slot: app/nn/compiled.py behind the slot's API.

numba compiles ``train_batches`` the first time it is called with these argument types (or
loads it from its on-disk cache, ``cache=True``: seconds to compile, under one to load).
:func:`warm` does that once, off the request path; until it has finished, :func:`ready` is
False and a session on the compiled kernel waits for it (:func:`wait`, within its request's
budget). numba itself (about 90 MB of memory, 150 MB with the kernel loaded) is imported only
then, so a process set to ``kernel = "numpy"`` never loads it.

The cache lives beside the source (``app/nn/__pycache__``) or, where that is read-only (an
installed wheel), in numba's per-user cache directory; where neither is writable, in a
temporary directory (compiled once per process, as without a cache).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import itertools
import os
import sys
import tempfile
import threading
from types import ModuleType

import numpy as np

from app.nn.activations import Array
from app.nn.kernel import Chunk, IntArray, Norms
from app.nn.losses import LOSSES, REG_KINDS
from app.nn.network import Network
from app.nn.norms import norms_from_squares
from app.nn.optimizers import PARAMS, SGD, Optimizer, OptState
from app.nn.shapes import ShapeError, check_data, check_order

compiled: ModuleType | None = None  # app.nn.compiled, once warm() has imported it
orders: ModuleType | None = None  # app.nn.compiled_rng (the epochs' orders), the same
shades: ModuleType | None = None  # app.nn.compiled_shades (the pictures' palette), the same

# Multiply-adds per compiled call before returning to Python (~2 ms), so the caller can read
# the clock between calls.
CHUNK_WORK = 2_000_000

_ready = threading.Event()
_lock = threading.Lock()
_error: list[str] = []
_warming: list[threading.Thread] = []  # the background warm-up, once started
_start_lock = threading.Lock()  # not _lock: that one is held while compiling


def available() -> bool:
    """Whether numba is installed (the app must still work, on NumPy, where it is not)."""
    return compiled is not None or importlib.util.find_spec("numba") is not None


def ready() -> bool:
    return _ready.is_set()


def failed() -> str | None:
    """Why compiling failed, if it did (then sessions on the compiled kernel cannot train)."""
    return _error[-1] if _error and not _ready.is_set() else None


def start_warming() -> None:
    """Start :func:`warm` in a background thread, once per process (idempotent; if
    app/main.py's warm-up is compiling already, the thread just waits for it)."""
    with _start_lock:
        if _ready.is_set() or _warming or not available():
            return
        thread = threading.Thread(target=warm, name="numba-warm", daemon=True)
        _warming.append(thread)
    thread.start()


def wait(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the kernel (starting its warm-up if need be)."""
    if _ready.is_set():
        return True
    start_warming()
    return _ready.wait(max(0.0, timeout))


def _import_compiled(name: str = "app.nn.compiled") -> ModuleType:
    """A compiled module, with numba's on-disk cache where one is writable. numba refuses to
    decorate a ``cache=True`` function when no cache location is writable; then point it at a
    temporary directory and import again."""
    try:
        return importlib.import_module(name)
    except RuntimeError as e:
        if "cannot cache" not in str(e):
            raise
    sys.modules.pop(name, None)
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="backprop-lab-numba-")
    from numba.core import config

    config.reload_config()  # type: ignore[no-untyped-call]
    return importlib.import_module(name)


def warm() -> bool:
    """Compile (or load from cache) the kernel by training a tiny net once; True if ready.
    Safe to call from several threads: one compiles, the others wait."""
    global compiled, orders, shades
    if not available():
        return False
    with _lock:
        if _ready.is_set():
            return True
        from app.nn.network import Spec

        try:
            compiled = _import_compiled()
            for loss, out in (("squared_error", "sigmoid"), ("cross_entropy", "softmax")):
                spec = Spec((2, 3, 2), "tanh", out, loss)
                rng = np.random.default_rng(0)
                net = Network(spec, [rng.normal(size=(2, 3)), rng.normal(size=(3, 2))],
                              [np.zeros(3), np.zeros(2)])
                X = rng.normal(size=(6, 2))
                Y = np.eye(2)[[0, 1, 0, 1, 1, 0]]
                k = NumbaKernel(net, 0.1, True, X, Y, X[:3], Y[:3])
                k.run_batches(np.arange(6), 4, 2, 0, 2, True)
            order_rng = _import_compiled("app.nn.compiled_rng")
            order = np.empty(3, np.int64)
            order_rng.permutation(order_rng.entropy_words(0, 1), 3, order)
            palette = _import_compiled("app.nn.compiled_shades")
            palette.shade(np.zeros(2), -1.0, 0.0, 1.0, 31, np.zeros(2, np.uint8))
            orders, shades = order_rng, palette
        except Exception as e:
            _error.append(repr(e))
            return False
        # Compiling (rather than loading numba's cache) leaves a million objects in reference
        # cycles (numba's IR, llvmlite's): freed now, before a class plays, not by the
        # collector's full collections in the middle of it (0.2-0.35 s each, measured).
        gc.collect()
        _ready.set()
        return True


def _plain(a: Array) -> Array:
    return np.require(a, np.float64, ["C", "W"])


def _int(values: list[int] | tuple[int, ...]) -> IntArray:
    return np.asarray(values, dtype=np.int64)


def _offsets(sizes: list[int]) -> IntArray:
    return _int([0, *np.cumsum(sizes, dtype=np.int64).tolist()])


class NumbaKernel:
    """Copies the weights in (one flat array for W, one for b), trains them in compiled code,
    copies them out on ``weights()``; the caller's network is never touched."""

    name = "numba"

    def __init__(self, net: Network, learning_rate: float, train_bias: bool,
                 X: Array, Y: Array, X_test: Array | None = None,
                 Y_test: Array | None = None, optimizer: Optimizer = SGD,
                 opt_state: OptState | None = None) -> None:
        spec = net.spec
        # The compiled loop has no bounds checks: shapes are checked here, where data enters.
        check_data(spec.layers, X, Y, X_test, Y_test)
        if [W.shape for W in net.W] != list(itertools.pairwise(spec.layers)):
            raise ShapeError(f"weights {[W.shape for W in net.W]} do not fit {spec.layers}")
        self.spec = spec
        self.layers = _int(spec.layers)
        L = spec.L
        self.acts = _int([spec.activation(l).code for l in range(1, L + 1)])
        self.loss = LOSSES[spec.loss].code
        self.fused = spec.fused
        self.mean = spec.reduction == "mean"
        reg = spec.regularization
        self.reg = REG_KINDS.index(reg.kind) if reg.active else 0
        self.rate = float(reg.rate)
        self.lr = float(learning_rate)
        self.has_b = net.b is not None
        self.train_b = self.has_b and train_bias
        self.shapes = [W.shape for W in net.W]
        self.W = np.concatenate([W.ravel() for W in net.W]).astype(np.float64)
        self.woff = _offsets([W.size for W in net.W])
        widths = list(spec.layers[1:])
        if net.b is not None:
            self.b = np.concatenate([b.ravel() for b in net.b]).astype(np.float64)
        else:
            self.b = np.zeros(0)
        self.boff = _offsets(widths) if net.b is not None else np.zeros(L + 1, np.int64)
        self.coff = _offsets(widths)
        self.gW, self.gb = np.empty_like(self.W), np.empty_like(self.b)
        # C-contiguous, writable float64 (a read-only array is another numba type: it would be
        # compiled again, on the request's thread).
        self.X, self.Y = _plain(X), _plain(Y)
        total = sum(widths)
        if X_test is not None and Y_test is not None and len(X_test):
            self.Xt, self.Yt = _plain(X_test), _plain(Y_test)
        else:
            self.Xt, self.Yt = np.zeros((0, X.shape[1])), np.zeros((0, Y.shape[1]))
        # feature-major, as the compiled loops read a batch (one unit's rows contiguous)
        self.n_test = len(self.Xt)
        self.XtT, self.YtT = (np.ascontiguousarray(A.T).ravel() for A in (self.Xt, self.Yt))
        self.zt, self.at = np.empty(self.n_test * total), np.empty(self.n_test * total)
        self.total_width = total
        self.bufs: dict[int, tuple[Array, ...]] = {}
        self.work_per_row = sum(a * b for a, b in zip(spec.layers, spec.layers[1:], strict=False))
        self._last: tuple[float, Array, Array] | None = None
        # The optimizer: its code and parameters as data, its moments as flat arrays in the
        # weights' layout (zeros where it keeps none), scratch for the new values.
        self.opt = optimizer
        self.opt_code = optimizer.code
        self.hp = np.array([float(getattr(optimizer, k)) for k in PARAMS])
        state = opt_state or OptState.zeros(optimizer, net.param_shapes())
        self.t = state.step
        n_W = len(net.W)

        def flat(xs: tuple[Array, ...] | None, part: slice, like: Array) -> Array:
            if xs is None or not xs[part]:
                return np.zeros_like(like)
            return np.concatenate([x.ravel() for x in xs[part]]).astype(np.float64)

        self.mW = flat(state.m, slice(0, n_W), self.W)
        self.vW = flat(state.v, slice(0, n_W), self.W)
        self.mb = flat(state.m, slice(n_W, None), self.b)
        self.vb = flat(state.v, slice(n_W, None), self.b)
        self.newW, self.newb = np.empty((3, len(self.W))), np.empty((3, len(self.b)))

    def _buffers(self, bs: int) -> tuple[Array, ...]:
        """Flat scratch for batches of up to bs rows: xb, yb (the batch's inputs and targets),
        z, a, delta (every layer's block) and ŷ of the last accepted batch."""
        bufs = self.bufs.get(bs)
        if bufs is None:
            n_in, n_out, w = int(self.layers[0]), int(self.layers[-1]), self.total_width
            bufs = self.bufs[bs] = (np.empty(bs * n_in), np.empty(bs * n_out),
                                    np.empty(bs * w), np.empty(bs * w), np.empty(bs * w),
                                    np.empty(bs * n_out))
        return bufs

    def batches_per_chunk(self, batch_size: int) -> int:
        # forward + two backward products per row, plus the test forward once per epoch
        return max(1, CHUNK_WORK // max(1, 3 * batch_size * self.work_per_row))

    def run_batches(self, order: IntArray, batch_size: int, n_batches: int, start: int,
                    stop: int, test_first: bool) -> Chunk:
        assert compiled is not None
        bs = min(batch_size, len(order))
        check_order(order, len(self.X), bs, n_batches, start, stop)
        xb, yb, z, a, delta, last_out = self._buffers(bs)
        n = stop - start
        losses, tests = np.empty(n), np.empty(n)
        grad_sq = np.full((n, len(self.woff) - 1), np.nan)
        order = np.require(order, np.int64, ["C", "W"])
        done, status, last_rows, last_j, last_loss = compiled.train_batches(
            self.X.ravel(), self.Y.ravel(), order, bs, n_batches, start, stop,
            self.layers, self.acts, self.loss, self.fused, self.mean, self.reg, self.rate,
            self.lr, self.has_b, self.train_b,
            self.W, self.woff, self.b, self.boff, xb, yb, z, a, delta, self.coff, self.gW,
            self.gb, self.XtT, self.YtT, self.n_test, test_first, self.zt,
            self.at, losses, tests, last_out, grad_sq,
            self.opt_code, self.hp, self.t, self.mW, self.vW, self.mb, self.vb, self.newW,
            self.newb)
        self.t += done
        if last_j >= 0:
            r0 = (last_j // n_batches) * len(self.X) % len(order) + (last_j % n_batches) * bs
            idx = order[r0 : r0 + last_rows]
            n_out = int(self.layers[-1])
            self._last = (float(last_loss),
                          last_out[: last_rows * n_out].reshape(last_rows, n_out).copy(),
                          self.Y[idx])
        diverged = status != 0
        # The norms of each epoch's last batch (None for the others).
        rows = np.flatnonzero((start + np.arange(done)) % n_batches == n_batches - 1)
        norms: list[Norms] = [None] * done
        if len(rows):
            for i, root in zip(rows.tolist(), norms_from_squares(grad_sq[rows]), strict=True):
                norms[i] = root
        return Chunk(losses[:done].tolist(), tests[: done + diverged].tolist(), diverged, norms)

    def last_output(self) -> tuple[float, Array, Array] | None:
        return self._last

    def opt_state(self) -> OptState:
        """New arrays holding the moments (per W, then per b) and the step count."""
        def split(fW: Array, fb: Array) -> tuple[Array, ...]:
            Ws = [fW[self.woff[i] : self.woff[i + 1]].reshape(s).copy()
                  for i, s in enumerate(self.shapes)]
            if not self.has_b:
                return tuple(Ws)
            return tuple(Ws + [fb[self.boff[i] : self.boff[i + 1]].copy()
                               for i in range(self.spec.L)])

        return OptState(self.t, split(self.mW, self.mb) if self.opt.uses_m else None,
                        split(self.vW, self.vb) if self.opt.uses_v else None)

    def weights(self) -> tuple[list[Array], list[Array] | None]:
        Ws = [self.W[self.woff[i] : self.woff[i + 1]].reshape(s).copy()
              for i, s in enumerate(self.shapes)]
        if not self.has_b:
            return Ws, None
        return Ws, [self.b[self.boff[i] : self.boff[i + 1]].copy() for i in range(self.spec.L)]



