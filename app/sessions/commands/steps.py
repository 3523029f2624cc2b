"""The commands that read a session, step through a pass and train it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings
from app.nn.kernel_slot import KernelWarming
from app.sessions import runs, service
from app.sessions.commands.base import Command, Trained, Unchanged, cursor_label
from app.sessions.config import ConfigError
from app.sessions.model import Session
from app.sessions.parts import ExportDoc
from app.sessions.service import GradcheckReport


# --- reads -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class State(Command[None]):
    """Nothing: the view reads the session."""

    name = "state"
    kind = "read"

    def run(self, s: Session, settings: Settings) -> None:
        return None


@dataclass(frozen=True)
class Export(Command[ExportDoc]):
    name = "export"
    kind = "read"

    def run(self, s: Session, settings: Settings) -> ExportDoc:
        return service.export(s, settings)


@dataclass(frozen=True)
class GradCheck(Command[GradcheckReport]):
    epsilon: float
    cancelled: Callable[[], bool] | None = None  # the client went away: stop early

    name = "gradcheck"
    kind = "read"
    long = True
    limits = ("gradcheck_max_work", "gradcheck_time_budget")

    def run(self, s: Session, settings: Settings) -> GradcheckReport:
        return service.gradcheck(s, self.epsilon, settings, self.cancelled)


# --- stepping --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forward(Command[None]):
    through: bool = False  # the rest of the pass, not one layer

    name = "forward"
    kind = "change"

    def run(self, s: Session, settings: Settings) -> None:
        service.forward(s, self.through)

    def label(self, s: Session) -> str:
        return self.name if self.through else cursor_label(s)


@dataclass(frozen=True)
class Backward(Command[None]):
    through: bool = False

    name = "backward"
    kind = "change"

    def run(self, s: Session, settings: Settings) -> None:
        service.backward(s, self.through)

    def label(self, s: Session) -> str:
        return self.name if self.through else cursor_label(s)


@dataclass(frozen=True)
class Update(Command[None]):
    name = "update"
    kind = "change"

    def run(self, s: Session, settings: Settings) -> None:
        service.update(s)


@dataclass(frozen=True)
class Step(Command[None]):
    """Whatever single step is next."""

    name = "step"
    kind = "change"

    def run(self, s: Session, settings: Settings) -> None:
        service.step(s)

    def label(self, s: Session) -> str:
        return cursor_label(s)


@dataclass(frozen=True)
class Train(Command[Trained]):
    epochs: int

    name = "train"
    kind = "change"
    long = True
    limits = ("max_epochs", "train_time_budget")

    def run(self, s: Session, settings: Settings) -> Trained:
        return service.train(s, self.epochs, settings)

    def label(self, s: Session) -> str:
        return "epoch" if self.epochs == 1 else self.name


@dataclass(frozen=True)
class Tick(Command[Trained | Unchanged]):
    """A Play tick: at most ``epochs`` within ``budget`` seconds (never past
    train_time_budget); a diverged network, or a compiled kernel still warming, trains
    nothing."""

    epochs: int
    budget: float

    name = "tick"
    kind = "change"
    limits = ("tick_budget",)

    def run(self, s: Session, settings: Settings) -> Trained | Unchanged:
        if s.trainer.status == "diverged":
            return Unchanged()
        settings = settings.model_copy(update={"train_time_budget": min(
            self.budget, settings.train_time_budget)})
        try:  # a tick waits for the compiled kernel within its own budget only
            return service.train(s, self.epochs, settings, wait=settings.train_time_budget)
        except KernelWarming:  # a Play tick trains nothing yet; the page polls again
            return Unchanged()


@dataclass(frozen=True)
class TrainTo(Command[Trained | Unchanged]):
    """Train until the session's epoch is ``target`` (a script's loop: the same call until
    nothing remains); nothing to do is no change."""

    target: int

    name = "train_to"
    kind = "change"
    long = True
    limits = ("max_epochs", "train_time_budget")

    def run(self, s: Session, settings: Settings) -> Trained | Unchanged:
        left = self.target - s.trainer.epoch
        if left <= 0:
            return Unchanged()
        if left > settings.max_epochs:
            raise ConfigError(("target_epoch",), f"target_epoch may be at most max_epochs "
                              f"({settings.max_epochs}) beyond the session's epoch "
                              f"{s.trainer.epoch}; got {self.target}")
        return service.train(s, left, settings)

    def label(self, s: Session) -> str:
        return "train"  # the timeline names it as any train call


@dataclass(frozen=True)
class RunChunk(Command[runs.Chunk | Unchanged]):
    """A chunk of a long run on the page (app/sessions/runs.py): its own time budget, one
    restore point for the whole run."""

    run_id: str
    total: int | None
    budget: float

    name = "run"
    kind = "change"
    long = True
    folds = True
    limits = ("max_epochs", "train_time_budget", "run_chunk_budget")

    def run(self, s: Session, settings: Settings) -> runs.Chunk | Unchanged:
        result = runs.chunk(s, settings, self.run_id, self.total, self.budget)
        return Unchanged() if result is None else result

    def label(self, s: Session) -> str:
        return runs.label(s, (self.run_id, self.total, self.budget))


@dataclass(frozen=True)
class Cancel(Command[runs.Chunk | Unchanged]):
    name = "cancel"
    kind = "view"

    def run(self, s: Session, settings: Settings) -> runs.Chunk | Unchanged:
        result = runs.cancel(s, settings)
        return Unchanged() if result is None else result
