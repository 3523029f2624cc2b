"""What a pass works on and leaves behind: the data set, the trace of the pass in progress over
the current batch, and the cursor's vocabulary (its phase, the status, why a run stopped).

The Trainer (app/nn/stepper.py) fills a Trace one layer at a time; the pages and the state
read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from app.nn.activations import Array

Phase = Literal["forward", "backward", "update"]
Status = Literal["ok", "diverged"]  # diverged: the last step was refused as non-finite
Stopped = Literal["diverged", "time_budget"]  # why a run ended early
IntArray = NDArray[np.int64]


class CursorError(Exception):
    """The requested step is not the one the cursor is at (HTTP 409)."""

    def __init__(self, requested: str, phase: str) -> None:
        super().__init__(f"cannot {requested}: the cursor is at {phase!r}")
        self.requested = requested
        self.phase = phase


@dataclass
class Data:
    X: Array
    Y: Array
    X_test: Array | None = None
    Y_test: Array | None = None


@dataclass
class Trace:
    """The values of the pass in progress over the current batch; None until computed."""

    indices: IntArray
    z: list[Array | None]
    a: list[Array | None]
    delta: list[Array | None]
    grad_W: list[Array | None]
    grad_b: list[Array | None]
    loss: float | None = None
    per_sample_loss: Array | None = None

    @classmethod
    def empty(cls, L: int, indices: IntArray) -> Trace:
        return cls(indices, [None] * L, [None] * L, [None] * L, [None] * L, [None] * L)
