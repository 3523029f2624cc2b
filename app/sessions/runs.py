"""A long training run: "Train 100,000" on the page goes on chunk by chunk, each chunk one
bounded request, until the epochs are done, a step diverges, or the person cancels.

The run lives on the session (``Session.run``), so that every chunk knows where the run ends,
watchers see its progress, and the door folds the chunks' restore points into one undoable
step (the chunks share one timeline label, ``run:<N>:<id>``). Any other change to the session
(a step, undo, Play, reset, …) ends the run: it would no longer be one step to undo.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.nn.kernel_slot import KernelWarming
from app.nn.stepper import Stopped
from app.sessions import service
from app.sessions.run_state import Run


@dataclass(frozen=True)
class Chunk:
    """What one chunk did, and where its run stands after it."""

    run: Run
    ran: int  # epochs this chunk finished
    stopped: Stopped | None
    done_before: int  # epochs of the run done before this chunk
    done: int
    finished: bool  # the run ended (all done, or a step diverged)

    @property
    def remaining(self) -> int:
        return self.run.total - self.done


def new_id() -> str:
    return secrets.token_urlsafe(9)


def label(s: Any, args: tuple[Any, ...]) -> str:
    """The timeline label every chunk of one run shares: ``run:<epochs asked>:<run id>``."""
    run_id = str(args[0]) if args else ""
    run: Run | None = s.run
    total = run.total if run is not None and run.id == run_id else (
        args[1] if len(args) > 1 and args[1] is not None else 0)
    return f"run:{total}:{run_id}"


def total_of(label: str) -> int | None:
    """The epochs a run label asked for (None: not a run's label)."""
    kind, _, rest = label.partition(":")
    n = rest.partition(":")[0]
    return int(n) if kind == "run" and n.isdigit() else None


def chunk(s: Any, settings: Settings, run_id: str, total: int | None, budget: float
          ) -> Chunk | None:
    """One chunk of run ``run_id``: start it (``total`` epochs from here) if it is not the
    session's run, then train towards its target for at most ``budget`` seconds (never more
    than ``train_time_budget``). None: a later chunk of a run that has ended (cancelled, or
    another operation came between); nothing changes."""
    t = s.trainer
    run: Run | None = s.run
    if run is None or run.id != run_id:
        if total is None:
            return None
        service.check_epochs(total, settings)
        run = Run(run_id[:32], total, t.epoch + total, t.epoch, time.time())
    done_before = run.done(t.epoch)
    left = run.target - t.epoch
    ran, stopped = 0, None
    if left > 0:
        chunk_settings = settings.model_copy(
            update={"train_time_budget": min(budget, settings.train_time_budget)})
        try:  # a chunk waits for the compiled kernel within its own budget only
            ran, stopped = service.train(s, left, chunk_settings,
                                         wait=chunk_settings.train_time_budget)
        except KernelWarming:  # nothing trained yet; the next chunk tries again
            ran, stopped = 0, None
    finished = stopped == "diverged" or t.epoch >= run.target
    s.run = None if finished else run
    return Chunk(run, ran, stopped, done_before, run.done(t.epoch), finished)


def cancel(s: Any, settings: Settings) -> Chunk | None:
    """End the session's run, keeping what it trained (None: no run)."""
    run: Run | None = s.run
    if run is None:
        return None
    s.run = None
    done = run.done(s.trainer.epoch)
    return Chunk(run, 0, None, done, done, True)
