"""What a Trainer reads from its config (its hyperparameters), kept apart from the Trainer so the
engine's tests and benchmarks can make one without a session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Hyperparameters(Protocol):
    """What a Trainer reads from its config: the session's normalized config is one; the
    Trainer keeps no copies, so a changed config is the only thing to replace."""

    @property
    def learning_rate(self) -> float: ...
    @property
    def batch_size(self) -> int | None: ...  # None: full batch
    @property
    def train_bias(self) -> bool: ...
    @property
    def shuffle_seed(self) -> int: ...


@dataclass(frozen=True)
class Hyper:
    """Hyperparameters on their own (the engine's tests and benchmarks have no session)."""

    learning_rate: float
    batch_size: int | None = None
    train_bias: bool = True
    shuffle_seed: int = 0
