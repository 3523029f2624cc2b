"""What every command is: ``Command[R]`` (what it runs, its kind, the settings that bound it,
``long``, ``folds``) and the results the door knows (``Unchanged``, ``Known``,
``NothingToUndo``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, Literal, TypeVar

from app.config import Settings
from app.sessions import polls
from app.sessions.model import Session

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
