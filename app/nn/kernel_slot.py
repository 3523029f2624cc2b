"""The kernel slot: "train these batches on this network and data", one protocol, chosen here.

Implementations copy the weights in at construction, train their own copy, and hand new arrays
back from ``weights()``; the trainer assigns them to its network explicitly when the run ends.

* ``numpy`` (app/nn/kernel.py): the per-layer arithmetic with buffers reused; bit for bit the
  step-through path.
* ``numba`` (app/nn/compiled.py): whole runs of mini-batches in compiled code; agrees with the
  step-through path to ~1e-15 relative per step (not bit for bit: sums in another order).

``auto`` is numba once it has been compiled (app/main.py warms it at start-up, in a thread) and
NumPy until then, or when numba is not installed.
"""

from __future__ import annotations

import os
from typing import Literal, Protocol, cast, get_args

from app.nn import numba_kernel
from app.nn.activations import Array
from app.nn.kernel import Chunk, IntArray, Kernel
from app.nn.network import Network
from app.nn.optimizers import SGD, Optimizer, OptState

KernelName = Literal["auto", "numpy", "numba"]  # the setting: auto picks an implementation
Implementation = Literal["numpy", "numba"]
KERNELS: tuple[KernelName, ...] = get_args(KernelName)

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


def configure(name: KernelName) -> None:
    """Set the process-wide choice (app/main.py, from the ``kernel`` setting)."""
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


def resolve_now() -> Implementation:
    """What the configured choice gives at this moment, never waiting for a compile."""
    name = _default[0]
    if name == "numpy" or not numba_kernel.available():
        return "numpy"
    return "numba" if name == "numba" or numba_kernel.ready() else "numpy"


def make_kernel(name: KernelName | None, net: Network, learning_rate: float, train_bias: bool,
                X: Array, Y: Array, X_test: Array | None, Y_test: Array | None,
                optimizer: Optimizer = SGD, opt_state: OptState | None = None) -> TrainKernel:
    if resolve(name) == "numba":
        return numba_kernel.NumbaKernel(net, learning_rate, train_bias, X, Y, X_test, Y_test,
                                        optimizer, opt_state)
    return Kernel(net, learning_rate, train_bias, X, Y, X_test, Y_test, optimizer, opt_state)
