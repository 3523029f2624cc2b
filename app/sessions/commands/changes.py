"""The commands that change a session besides stepping (hyperparameters, weights, data, its
configuration, a poll's reveal), undo and redo, what the teacher shows, the watch link and
deleting it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings
from app.jsontypes import JSONObject
from app.sessions import data_edits, polls, service, undo
from app.sessions.commands.base import Command, Known, NothingToUndo, Unchanged
from app.sessions.model import Session, build_data, spec_of
from app.sessions.normalized import NormalizedConfig
from app.sessions.parts import LayerDoc


# --- changes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Patch(Command[None]):
    changes: JSONObject  # the hyperparameters sent (PATCH's body, the settings form)

    name = "patch"
    kind = "change"
    limits = ("max_learning_rate", "max_regularization_rate")

    def run(self, s: Session, settings: Settings) -> None:
        service.patch(s, self.changes, settings)


@dataclass(frozen=True)
class SetWeights(Command[None]):
    layers: list[LayerDoc]  # each layer's W (and b)

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
