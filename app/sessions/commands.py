"""Every write (and read) of a session is a small typed command, applied by the one door
(app/sessions/door.py): ``await door.apply(sid, Train(epochs=5))`` returns what ``Train``
returns, so mypy and a reader follow a route to its operation.

A session command says what it runs (``run``), what kind of change it is (``kind``), which
settings bound it (``limits``), whether it may run for seconds (``long``) and whether its
restore point folds into the previous one (``folds``). The commands that make a new session
(``Create``, ``Import``, ``Fork``) go through ``Door.create``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from app.config import Settings
from app.nn.kernel_slot import KernelWarming
from app.sessions import data_edits, polls, runs, service, undo
from app.sessions.budget import PageTooLarge, check_page
from app.sessions.config import ConfigError, SessionConfig
from app.sessions.model import Session, build_data, spec_of
from app.sessions.normalized import NormalizedConfig

# read: changes nothing. change: a state change (restore point, version, event).
# history: undo/redo, view: what the teacher shows (version and event, no restore point).
# meta: saved, not a state change (the watch link).
Kind = Literal["read", "change", "history", "view", "meta"]
R = TypeVar("R", covariant=True)
Stopped = Literal["diverged", "time_budget"] | None
Trained = tuple[int, Stopped]  # (epochs ran, why it stopped early)


class NothingToUndo(Exception):
    """Undo (or redo) with nothing on that side (HTTP 409)."""

    def __init__(self, direction: str) -> None:
        super().__init__(f"nothing to {direction}")
        self.direction = direction


class Unchanged:
    """Returned by a command that decided to change nothing (a Play tick on a diverged
    network): no restore point, no new version."""


class Known(Unchanged):
    """A poll's value the session had already computed: nothing ran."""

    def __init__(self, found: polls.Revealed) -> None:
        self.found = found


@dataclass(frozen=True)
class Command(Generic[R]):
    """One operation on an existing session; ``R`` is what it returns."""

    name: ClassVar[str]
    kind: ClassVar[Kind]
    limits: ClassVar[tuple[str, ...]] = ()  # the settings that bound it
    # May run for seconds (a time budget of its own): it does not wait for, nor hold up, the
    # short operations' turns (Door.limiter), so a long train never stalls a class's Play.
    long: ClassVar[bool] = False
    # Its restore point folds into the newest one when both carry the same label (the chunks
    # of one long training run: one undoable step).
    folds: ClassVar[bool] = False

    @property
    def writes(self) -> bool:
        return self.kind != "read"

    def run(self, s: Session, settings: Settings) -> R:
        raise NotImplementedError

    def label(self, s: Session) -> str:
        """What the timeline calls this step (read before it runs)."""
        return self.name


def cursor_label(s: Session) -> str:
    """A single step's label: F2 / B1 / update."""
    t = s.trainer
    if t.phase == "update":
        return "update"
    return f"{'F' if t.phase == 'forward' else 'B'}{t.layer}"


# --- reads -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class State(Command[None]):
    """Nothing: the view reads the session."""

    name = "state"
    kind = "read"

    def run(self, s: Session, settings: Settings) -> None:
        return None


@dataclass(frozen=True)
class Export(Command[dict[str, Any]]):
    name = "export"
    kind = "read"

    def run(self, s: Session, settings: Settings) -> dict[str, Any]:
        return service.export(s, settings)


@dataclass(frozen=True)
class GradCheck(Command[dict[str, Any]]):
    epsilon: float
    cancelled: Callable[[], bool] | None = None  # the client went away: stop early

    name = "gradcheck"
    kind = "read"
    long = True
    limits = ("gradcheck_max_work", "gradcheck_time_budget")

    def run(self, s: Session, settings: Settings) -> dict[str, Any]:
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


# --- changes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Patch(Command[None]):
    changes: dict[str, Any]  # the hyperparameters sent (PATCH's body, the settings form)

    name = "patch"
    kind = "change"
    limits = ("max_learning_rate", "max_regularization_rate")

    def run(self, s: Session, settings: Settings) -> None:
        service.patch(s, self.changes, settings)


@dataclass(frozen=True)
class SetWeights(Command[None]):
    layers: list[dict[str, Any]]  # each layer's W (and b)

    name = "weights"
    kind = "change"
    limits = ("max_abs_value",)

    def run(self, s: Session, settings: Settings) -> None:
        service.set_weights(s, self.layers, settings)


@dataclass(frozen=True)
class Reset(Command[None]):
    config: NormalizedConfig | None = None  # None: start over with the same config

    name = "reset"
    kind = "change"

    def run(self, s: Session, settings: Settings) -> None:
        service.reset(s, self.config, settings)


@dataclass(frozen=True)
class AddPoint(Command[None]):
    x1: float
    x2: float
    y: float

    name = "points"
    kind = "change"
    limits = ("max_added_points",)

    def run(self, s: Session, settings: Settings) -> None:
        data_edits.add_point(s, self.x1, self.x2, self.y, settings)


@dataclass(frozen=True)
class Reconfigure(Command[None]):
    """A new configuration built from the current one (the page's "change the experiment"):
    new weights, same id; undoable like reset."""

    build: Callable[[NormalizedConfig], NormalizedConfig]

    name = "reconfigure"
    kind = "change"

    def run(self, s: Session, settings: Settings) -> None:
        service.reset(s, self.build(s.config), settings)


@dataclass(frozen=True)
class Reveal(Command[polls.Revealed | Known]):
    """A poll's reveal: exactly the steps that compute its quantity (one restore point)."""

    quantity: polls.Quantity
    iteration: int

    name = "reveal"
    kind = "change"

    def run(self, s: Session, settings: Settings) -> polls.Revealed | Known:
        found = polls.reveal_steps(s.trainer, self.quantity, self.iteration)
        return found if found.steps else Known(found)


# --- history, view, links --------------------------------------------------------------------
def step_back(s: Session, settings: Settings, steps: int) -> int:
    """Undo ``steps`` operations (negative: redo), one restore point at a time; all or
    nothing: if a point cannot be applied, the session and both stacks stay as they were."""
    ring = s.undo
    want = abs(steps)
    src, dst = (ring.back, ring.forward) if steps > 0 else (ring.forward, ring.back)
    if want == 0 or len(src) < want:
        raise NothingToUndo("undo" if steps > 0 else "redo")
    saved = (s.config, s.task, s.trainer, list(src), list(dst))
    try:
        for _ in range(want):
            p = src[-1].get()
            inverse = undo.restore(s, p, build_data, spec_of)
            src.pop()
            dst.append(undo.Entry.of(inverse))
    except BaseException:
        # restore() assigns the session only when complete: put back the state and the
        # points of the steps already applied.
        s.config, s.task, s.trainer = saved[:3]
        src[:], dst[:] = saved[3], saved[4]
        raise
    ring.bound(settings.undo_depth, settings.undo_max_bytes)
    return want


@dataclass(frozen=True)
class Undo(Command[int]):
    steps: int = 1

    name = "undo"
    kind = "history"
    limits = ("undo_depth", "undo_max_bytes")

    def run(self, s: Session, settings: Settings) -> int:
        return step_back(s, settings, self.steps)


@dataclass(frozen=True)
class Redo(Command[int]):
    steps: int = 1

    name = "redo"
    kind = "history"
    limits = ("undo_depth", "undo_max_bytes")

    def run(self, s: Session, settings: Settings) -> int:
        return step_back(s, settings, -self.steps)


@dataclass(frozen=True)
class Select(Command[Unchanged | None]):
    """What the teacher's inspector shows (watchers see it too)."""

    sel: str | None

    name = "select"
    kind = "view"

    def run(self, s: Session, settings: Settings) -> Unchanged | None:
        if s.view_sel == self.sel:
            return Unchanged()
        s.view_sel = self.sel
        return None


@dataclass(frozen=True)
class Watch(Command[str]):
    """The session's watch link (made once); the door then links it in the hub."""

    name = "watch"
    kind = "meta"

    def run(self, s: Session, settings: Settings) -> str:
        if s.watch_id is None:
            s.watch_id = service.new_watch_id()
        return s.watch_id


@dataclass(frozen=True)
class Unwatch(Command[str | None]):
    """Forget the watch link (the door then revokes it in the hub); the old link, if any."""

    name = "unwatch"
    kind = "meta"

    def run(self, s: Session, settings: Settings) -> str | None:
        old, s.watch_id = s.watch_id, None
        return old


@dataclass(frozen=True)
class Delete(Command[str | None]):
    """Forget the session: the door reads its watch link under the lock, deletes it from the
    store and revokes the link (its watchers' streams end). Returns the revoked link."""

    name = "delete"
    kind = "read"

    def run(self, s: Session, settings: Settings) -> str | None:
        return s.watch_id


COMMANDS: tuple[type[Command[Any]], ...] = (
    State, Export, GradCheck, Forward, Backward, Update, Step, Train, Tick, TrainTo, RunChunk,
    Cancel, Patch, SetWeights, Reset, AddPoint, Reconfigure, Reveal, Undo, Redo, Select, Watch,
    Unwatch, Delete)


# --- new sessions (Door.create) --------------------------------------------------------------
def drawable(normalized: NormalizedConfig, settings: Settings, field: str) -> NormalizedConfig:
    """A network created from the pages must be drawable within the reply budget."""
    try:
        check_page(normalized, settings.max_reply_bytes)
    except PageTooLarge as e:
        raise ConfigError((field,), str(e)) from None
    return normalized


@dataclass(frozen=True)
class Create:
    """A new session from a config (normalized by the door unless it already is).
    ``drawable``: the field to blame when the pages could not draw it (None: not checked)."""

    config: SessionConfig | NormalizedConfig
    drawable: str | None = None


@dataclass(frozen=True)
class Import:
    """A new session from an export document (GET …/export, a lesson file)."""

    doc: dict[str, Any]


@dataclass(frozen=True)
class Fork:
    """"Make my own copy": a new session from the last saved state behind a watch link."""

    watch_id: str


Creation = Create | Import | Fork
