"""The kernel slot: "train these batches on this network and data", one protocol, chosen here.

Implementations copy the weights in at construction, train their own copy, and hand new arrays
back from ``weights()``; the trainer assigns them to its network explicitly when the run ends.

* ``numpy`` (app/nn/kernel.py): the per-layer arithmetic with buffers reused; bit for bit the
  step-through path.
* ``numba`` (app/nn/compiled.py): whole runs of mini-batches in compiled code; agrees with the
  step-through path to ~1e-15 relative per step (not bit for bit: sums in another order, and
  its own vectorized tanh).

Sessions: results are a function of the requests alone. Each session's kernel is fixed when
it is created (its config's ``kernel``: "numpy" or "compiled", see :func:`session_default`) and
never depends on timing: a train on the compiled kernel that arrives before this process has
compiled it waits (:func:`wait_for`, within its budget) or is refused with
:class:`KernelWarming` (503, retry), never run on NumPy instead. See docs/architecture.md.

The process-wide setting (``kernel``, env ``BACKPROP_LAB_KERNEL``): ``auto`` — sessions train
on the compiled kernel unless their config says "numpy" (the lesson preset does), NumPy where
numba is not installed; ``numpy`` — every session on NumPy (numba never loaded); ``numba`` —
the compiled kernel required. Engine-level callers that pass no kernel to Trainer.run (tests,
benchmarks) get :func:`resolve`: ``auto`` there is numba once warm, else NumPy.
"""

from __future__ import annotations

import os
import time
from typing import Literal, Protocol, cast, get_args

from app.nn import numba_kernel
from app.nn.activations import Array
from app.nn.kernel import Chunk, IntArray, Kernel
from app.nn.network import Network
from app.nn.optimizers import SGD, Optimizer, OptState

KernelName = Literal["auto", "numpy", "numba"]  # the setting: auto picks an implementation
Implementation = Literal["numpy", "numba"]
KERNELS: tuple[KernelName, ...] = get_args(KernelName)
SessionKernel = Literal["numpy", "compiled"]  # a session's choice (its config's "kernel")
SESSION_KERNELS: tuple[SessionKernel, ...] = get_args(SessionKernel)

# The same environment variable as the ``kernel`` setting, so that tests and scripts that do not
# go through app/main.py (``BACKPROP_LAB_KERNEL=numba pytest tests/nn``) get the same choice.
_default: list[KernelName] = [cast(KernelName, os.environ.get("BACKPROP_LAB_KERNEL", "auto"))]


class TrainKernel(Protocol):
    name: str

    def batches_per_chunk(self, batch_size: int) -> int:
        """How many batches one run_batches call may take before the caller reads the clock."""

    def run_batches(self, order: IntArray, batch_size: int, n_batches: int, start: int,
                    stop: int, test_first: bool) -> Chunk:
        """Train batches start..stop−1; batch j is order[(j % n_batches)·batch_size : …]. At
        each epoch start (j % n_batches == 0; at ``start`` only if ``test_first``) the test
        objective is taken first, at the weights the epoch starts with. Stops at the first
        step refused as non-finite, its weights unchanged."""

    def weights(self) -> tuple[list[Array], list[Array] | None]:
        """New arrays holding the current W and b."""

    def last_output(self) -> tuple[float, Array, Array] | None:
        """(loss, ŷ, targets) of the last forward pass whose loss was finite, if any."""

    def opt_state(self) -> OptState:
        """New arrays holding the optimizer's current state (its step count included)."""


class KernelWarming(RuntimeError):
    """The compiled kernel is still compiling in this process (503 with Retry-After)."""

    def __init__(self, waited: float, retry_after: int = 2) -> None:
        super().__init__(f"the compiled training kernel is still compiling on this server "
                         f"(waited {waited:g} s, setting kernel_wait); retry in a moment")
        self.retry_after = retry_after


class KernelUnavailable(RuntimeError):
    """A session on the compiled kernel, on a process that cannot compile it (503)."""


def session_default(setting: KernelName) -> SessionKernel:
    """The kernel a new session gets when its config does not name one."""
    if setting == "numpy" or (setting == "auto" and not numba_kernel.available()):
        return "numpy"
    return "compiled"


def compiled_allowed(setting: KernelName) -> str | None:
    """Why a session may not ask for the compiled kernel here (None: it may)."""
    if setting == "numpy":
        return "this server trains on NumPy only (setting kernel = numpy)"
    if not numba_kernel.available():
        return "numba is not installed on this server"
    return None


def implementation(kernel: SessionKernel) -> Implementation:
    return "numba" if kernel == "compiled" else "numpy"


def wait_for(kernel: SessionKernel, timeout: float) -> float:
    """Make sure ``kernel`` can train now: seconds spent waiting for the compiled kernel to
    finish compiling (0 for NumPy). Raises KernelWarming after ``timeout`` seconds, and
    KernelUnavailable where it cannot be compiled at all."""
    if kernel == "numpy" or numba_kernel.ready():
        return 0.0
    if not numba_kernel.available() or numba_kernel.failed():
        raise KernelUnavailable("this session trains on the compiled kernel, which this server "
                                f"cannot load ({numba_kernel.failed() or 'numba not installed'})")
    start = time.perf_counter()
    if not numba_kernel.wait(timeout):
        if numba_kernel.failed():
            return wait_for(kernel, 0.0)  # raises KernelUnavailable
        raise KernelWarming(round(time.perf_counter() - start, 1))
    return time.perf_counter() - start


def configure(name: KernelName) -> None:
    """Set the process-wide choice of engine-level callers that name no kernel (tests,
    benchmarks); the app's sessions name theirs (config.kernel)."""
    if name not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}; got {name!r}")
    _default[0] = name


def default() -> KernelName:
    return _default[0]


def resolve(name: KernelName | None = None) -> Implementation:
    name = name or _default[0]
    if name == "numba":
        if not numba_kernel.available():
            raise RuntimeError("kernel 'numba' requested but numba is not installed")
        if not numba_kernel.ready():
            numba_kernel.warm()  # explicit choice: compile now (tests, benchmarks)
        return "numba"
    if name == "auto" and numba_kernel.ready():
        return "numba"
    return "numpy"


def make_kernel(name: KernelName | None, net: Network, learning_rate: float, train_bias: bool,
                X: Array, Y: Array, X_test: Array | None, Y_test: Array | None,
                optimizer: Optimizer = SGD, opt_state: OptState | None = None) -> TrainKernel:
    if resolve(name) == "numba":
        return numba_kernel.NumbaKernel(net, learning_rate, train_bias, X, Y, X_test, Y_test,
                                        optimizer, opt_state)
    return Kernel(net, learning_rate, train_bias, X, Y, X_test, Y_test, optimizer, opt_state)
