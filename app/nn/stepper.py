"""The training state machine: forward → loss → backward → update, one layer at a time.

One module: the step-by-step state machine and its fast path (``run``) must do the same
arithmetic in the same order, so they stay side by side.

A :class:`Trainer` owns the network, the data, the cursor, the trace of the current pass and the
loss history. ``forward_step``/``backward_step``/``update_step`` are the lesson's equations one
line at a time; :meth:`Trainer.run` is the same arithmetic in a tight loop, so stepping through
an epoch and running it give identical numbers.

Any step whose result is not finite is refused: the weights stay as they were, the unfinished
pass is discarded and ``status`` becomes ``"diverged"``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app.nn import numba_kernel
from app.nn.activations import Array
from app.nn.history import History
from app.nn.hyper import Hyper, Hyperparameters
from app.nn.kernel import Chunk
from app.nn.kernel_slot import KernelName, make_kernel
from app.nn.network import Network, all_finite, quiet, quiet_math
from app.nn.norms import grad_norms
from app.nn.optimizers import SGD, Optimizer, OptState
from app.nn.trace import CursorError, Data, IntArray, Phase, Status, Stopped, Trace

# The pieces moved to their own modules (trace, history, hyper), importable from here as before.
__all__ = ["CursorError", "Data", "History", "Hyper", "Hyperparameters", "Phase", "Status",
           "Stopped", "Trace", "Trainer"]


@functools.lru_cache(maxsize=64)
def _shuffle(seed: int, epoch: int, n: int) -> IntArray:
    """An epoch's order, remembered: a Play tick asks for the current epoch's several times
    (the batch shown, its rows, the state). NumPy's ``default_rng([seed, epoch])
    .permutation(n)``: compiled (app/nn/compiled_rng.py, the same numbers at a sixth of the
    cost) once the kernel is warm, NumPy's own before. Read-only, as it is shared."""
    compiled = numba_kernel.orders  # default_rng([seed, epoch]).permutation(n), bit for bit
    if compiled is not None and seed >= 0 and epoch >= 0:
        order = np.empty(n, dtype=np.int64)
        compiled.permutation(compiled.entropy_words(seed, epoch), n, order)
    else:
        order = np.random.default_rng([seed, epoch]).permutation(n)
    order.flags.writeable = False
    return order


@dataclass
class Trainer:
    net: Network
    data: Data
    hyper: Hyperparameters
    history_limit: int = 100_000
    # progress
    epoch: int = 0
    iteration: int = 0
    batch_pos: int = 0  # index of the current batch within the epoch
    epoch_loss_sum: float = 0.0  # batch losses of the epoch so far (mini-batch history)
    epoch_test_loss: float | None = None  # test loss at the weights the epoch started with
    phase: Phase = "forward"
    layer: int | None = 1
    status: Status = "ok"
    # The first epoch recorded with the current batch size, data and regularization: from it
    # on, an epoch's loss converts exactly to the lesson's mean squared error (the state's mse).
    mse_since: int = 0
    history: History = field(default_factory=History)
    trace: Trace | None = None
    # The last completed forward pass: its objective, and ŷ with the targets of its batch.
    last_loss: float | None = None
    last_output: Array | None = None
    last_targets: Array | None = None
    # The optimizer (app/nn/optimizers.py) and its state, which belongs with the weights.
    optimizer: Optimizer = SGD
    opt_state: OptState | None = None

    def __post_init__(self) -> None:
        if self.opt_state is None or not self.opt_state.fits(self.optimizer,
                                                             self.net.param_shapes()):
            self.reset_optimizer()

    @property
    def learning_rate(self) -> float:
        return self.hyper.learning_rate

    @property
    def batch_size(self) -> int | None:
        return self.hyper.batch_size

    @property
    def train_bias(self) -> bool:
        return self.hyper.train_bias

    @property
    def shuffle_seed(self) -> int:
        return self.hyper.shuffle_seed

    def reset_optimizer(self, optimizer: Optimizer | None = None) -> None:
        """Fresh state (t = 0, zero moments), for ``optimizer`` if given."""
        if optimizer is not None:
            self.optimizer = optimizer
        self.opt_state = OptState.zeros(self.optimizer, self.net.param_shapes())

    # --- batches -------------------------------------------------------------------------
    @property
    def L(self) -> int:
        return self.net.spec.L

    @property
    def n_samples(self) -> int:
        return len(self.data.X)

    @property
    def effective_batch_size(self) -> int:
        bs = self.batch_size
        return self.n_samples if bs is None or bs >= self.n_samples else bs

    @property
    def n_batches(self) -> int:
        return -(-self.n_samples // self.effective_batch_size)

    def permutation(self, epoch: int) -> IntArray | None:
        """The sample order of an epoch: None (data order) for full batches, else a shuffle
        drawn from (seed, epoch) so every run and every worker gets the same batches."""
        if self.effective_batch_size == self.n_samples:
            return None
        return _shuffle(self.shuffle_seed, epoch, self.n_samples)

    def batch_indices(self, epoch: int | None = None, pos: int | None = None) -> IntArray:
        epoch = self.epoch if epoch is None else epoch
        pos = self.batch_pos if pos is None else pos
        perm = self.permutation(epoch)
        if perm is None:
            return np.arange(self.n_samples)
        bs = self.effective_batch_size
        return perm[pos * bs : (pos + 1) * bs]

    def current_batch(self) -> tuple[IntArray, Array, Array]:
        idx = self.trace.indices if self.trace is not None else self.batch_indices()
        if len(idx) == self.n_samples and self.permutation(self.epoch) is None:
            return idx, self.data.X, self.data.Y
        return idx, self.data.X[idx], self.data.Y[idx]

    # --- bookkeeping ---------------------------------------------------------------------
    def discard_pass(self) -> None:
        self.trace = None
        self.phase, self.layer = "forward", 1

    def _diverged(self) -> None:
        self.status = "diverged"
        self.discard_pass()

    def test_objective(self) -> float | None:
        if self.data.X_test is None or self.data.Y_test is None or len(self.data.X_test) == 0:
            return None
        zs, acts = self.net.forward(self.data.X_test)
        value, _ = self.net.objective(acts[-1], self.data.Y_test, zs[-1])
        return value if math.isfinite(value) else None

    def _finish_batch(self, batch_loss: float, grad_norm: list[float] | None = None) -> None:
        self.iteration += 1
        self.epoch_loss_sum += batch_loss
        self.batch_pos += 1
        if self.batch_pos >= self.n_batches:
            self._end_epoch(grad_norm)

    def _end_epoch(self, grad_norm: list[float] | None) -> None:
        self.history.append(
            self.epoch, self.epoch_loss_sum / self.n_batches, self.epoch_test_loss, grad_norm
        )
        if len(self.history.epoch) > self.history_limit:
            self.history.compact(self.history_limit // 2)
        self.epoch += 1
        self.batch_pos = 0
        self.epoch_loss_sum = 0.0
        self.epoch_test_loss = None

    def _start_epoch_if_needed(self) -> None:
        if self.batch_pos == 0 and self.epoch_test_loss is None:
            self.epoch_test_loss = self.test_objective()

    # --- one step at a time --------------------------------------------------------------
    @quiet
    def forward_step(self) -> bool:
        if self.phase != "forward" or self.layer is None:
            raise CursorError("forward", self.phase)
        l = self.layer
        if l == 1 or self.trace is None:
            self._start_epoch_if_needed()
            self.trace = Trace.empty(self.L, self.batch_indices())
        _, X, Y = self.current_batch()
        a_prev = X if l == 1 else self.trace.a[l - 2]
        assert a_prev is not None
        z, a = self.net.forward_layer(l, a_prev)
        if not all_finite(z, a):
            self._diverged()
            return False
        self.trace.z[l - 1], self.trace.a[l - 1] = z, a
        if l < self.L:
            self.layer = l + 1
            return True
        loss, ell = self.net.objective(a, Y, z)
        if not math.isfinite(loss):
            self._diverged()
            return False
        self.trace.loss, self.trace.per_sample_loss = loss, ell
        self.last_loss, self.last_output, self.last_targets = loss, a, Y
        self.phase, self.layer = "backward", self.L
        return True

    @quiet
    def backward_step(self) -> bool:
        if self.phase != "backward" or self.layer is None or self.trace is None:
            raise CursorError("backward", self.phase)
        l, t = self.layer, self.trace
        _, X, Y = self.current_batch()
        z, a = t.z[l - 1], t.a[l - 1]
        assert z is not None and a is not None
        if l == self.L:
            delta = self.net.output_delta(z, a, Y)
        else:
            delta_next = t.delta[l]
            assert delta_next is not None
            delta = self.net.hidden_delta(l, delta_next, z, a)
        a_prev = X if l == 1 else t.a[l - 2]
        assert a_prev is not None
        grad_W, grad_b = self.net.layer_grads(l, a_prev, delta)
        if not all_finite(delta, grad_W, grad_b):
            self._diverged()
            return False
        t.delta[l - 1], t.grad_W[l - 1], t.grad_b[l - 1] = delta, grad_W, grad_b
        if l > 1:
            self.layer = l - 1
        else:
            self.phase, self.layer = "update", None
        return True

    @quiet
    def update_step(self) -> bool:
        t = self.trace
        if self.phase != "update" or t is None or t.loss is None:
            raise CursorError("update", self.phase)
        grad_W = [g for g in t.grad_W if g is not None]
        new = self.net.updated(grad_W, t.grad_b, self.learning_rate, self.train_bias,
                               self.optimizer, self.opt_state)
        if new is None:
            self._diverged()
            return False
        self.net.W, self.net.b, self.opt_state = new
        self.status = "ok"
        self._finish_batch(t.loss, grad_norms(grad_W))
        self.discard_pass()
        return True

    def step(self) -> bool:
        """Do whichever single step is next; False if it was refused as divergent."""
        if self.phase == "forward":
            return self.forward_step()
        if self.phase == "backward":
            return self.backward_step()
        return self.update_step()

    def forward_all(self) -> None:
        """Finish the forward pass and the loss (stops early only on divergence)."""
        self._finish("forward", self.forward_step)

    def backward_all(self) -> None:
        self._finish("backward", self.backward_step)

    def _finish(self, phase: Phase, step: Callable[[], bool]) -> None:
        """Repeat ``step`` while the cursor stays in ``phase``; stop early on divergence."""
        if self.phase != phase:
            raise CursorError(phase, self.phase)
        while self.phase == phase:
            if not step():
                return

    # --- many epochs ---------------------------------------------------------------------
    def run(
        self, epochs: int, time_budget: float | None = None, kernel: KernelName | None = None
    ) -> tuple[int, Stopped | None]:
        """Train until ``epochs`` more epochs have finished (an epoch already partly stepped
        through counts as the first). Returns (epochs finished, why it stopped early).

        The kernel (app/nn/kernel_slot.py) trains a copy of the weights in chunks of batches;
        the clock is read between chunks, and the new weights are assigned at the end."""
        self.discard_pass()
        deadline = None if time_budget is None else time.perf_counter() + time_budget
        start_epoch = self.epoch
        target = self.epoch + epochs
        data = self.data
        k = make_kernel(kernel, self.net, self.learning_rate, self.train_bias,
                        data.X, data.Y, data.X_test, data.Y_test, self.optimizer,
                        self.opt_state)
        bs, nb = self.effective_batch_size, self.n_batches
        per_chunk = k.batches_per_chunk(bs)
        full = self.permutation(self.epoch) is None  # then every epoch is the whole data set
        identity = np.arange(self.n_samples)
        stopped: Stopped | None = None
        with quiet_math():
            # The clock is read between chunks of mini-batches (a chunk is a few ms of work),
            # not only between epochs: one epoch of many small batches can outlast the budget.
            # The first chunk always runs; after that, a chunk starts only if, at the pace so
            # far, it would end before the deadline.
            started, chunks = time.perf_counter(), 0
            while self.epoch < target:
                if deadline is not None and chunks and _late(
                        time.perf_counter(), started, chunks, 1, deadline):
                    stopped = "time_budget"
                    break
                test_first = self.batch_pos == 0 and self.epoch_test_loss is None
                if full:  # one batch per epoch: a chunk may span many epochs
                    n = min(target - self.epoch, per_chunk)
                    chunk = k.run_batches(identity, bs, 1, 0, n, test_first)
                    self._record_epochs(chunk, test_first)
                else:  # a chunk may run on into the next epochs: their orders in a row
                    left = (target - self.epoch) * nb - self.batch_pos
                    stop = self.batch_pos + min(per_chunk, left)
                    # (not full: every epoch is a shuffle, as permutation() gives)
                    orders = [_shuffle(self.shuffle_seed, self.epoch + e, self.n_samples)
                              for e in range(-(-stop // nb))]
                    order = np.concatenate(orders)
                    chunk = k.run_batches(order, bs, nb, self.batch_pos, stop, test_first)
                    self._record_batches(chunk, test_first)
                chunks += 1
                if chunk.diverged:
                    stopped = "diverged"
                    break
        self.status = "diverged" if stopped == "diverged" else "ok"
        last = k.last_output()
        if last is not None:
            loss, output, targets = last
            if all_finite(output):  # a refused forward pass leaves its buffers non-finite
                self.last_loss, self.last_output, self.last_targets = loss, output, targets
        self.net.W, self.net.b = k.weights()
        self.opt_state = k.opt_state()
        return self.epoch - start_epoch, stopped

    def _test_value(self, value: float) -> float | None:
        return value if math.isfinite(value) else None

    def _record_batches(self, chunk: Chunk, test_first: bool) -> None:
        """Bookkeeping for a chunk of mini-batches, epoch by epoch (as _finish_batch, batch by
        batch): each epoch's test loss from its first batch, its loss sum in order, its end."""
        done, i = len(chunk.losses), 0
        while True:
            # The test objective the kernel took at this epoch's start (also for an epoch
            # whose first batch was refused: it keeps the test loss taken at its start).
            if self.batch_pos == 0 and (i > 0 or test_first) and i < len(chunk.tests):
                self.epoch_test_loss = self._test_value(chunk.tests[i])
            if i >= done:
                return
            take = min(self.n_batches - self.batch_pos, done - i)
            total = self.epoch_loss_sum
            for loss in chunk.losses[i : i + take]:  # in order: the same sum as one at a time
                total += loss
            self.iteration += take
            self.batch_pos += take
            self.epoch_loss_sum = total
            i += take
            if self.batch_pos < self.n_batches:
                return
            self._end_epoch(chunk.norm(i - 1))

    def _record_epochs(self, chunk: Chunk, test_first: bool) -> None:
        """Bookkeeping for a chunk of whole-data epochs: one history point each."""
        tests: list[float | None] = [
            self.epoch_test_loss if i == 0 and not test_first else self._test_value(t)
            for i, t in enumerate(chunk.tests)
        ]
        done = len(chunk.losses)
        if chunk.diverged:  # the refused epoch keeps the test loss taken at its start
            self.epoch_test_loss = tests[done]
        h = self.history
        first = self.epoch
        norms = [chunk.norm(i) for i in range(done)]
        if len(h.epoch) + done <= self.history_limit:
            h.epoch.extend(range(first, first + done))
            h.loss.extend(chunk.losses)
            h.test_loss.extend(tests[:done])
            h.grad_norm.extend(None if g is None else tuple(g) for g in norms)
        else:  # compact exactly when one epoch at a time would
            for i in range(done):
                h.append(first + i, chunk.losses[i], tests[i], norms[i])
                if len(h.epoch) > self.history_limit:
                    h.compact(self.history_limit // 2)
        self.epoch += done
        self.iteration += done
        if done:
            self.epoch_test_loss = None
            self.epoch_loss_sum = 0.0


def _late(now: float, started: float, done: int, more: int, deadline: float) -> bool:
    """Whether ``more`` steps at the average pace of the ``done`` so far end past the deadline."""
    return now + (now - started) / done * more > deadline
