"""Every write (and read) of a session is a small typed command, applied by the one door
(app/sessions/door.py): ``await door.apply(sid, Train(epochs=5))`` returns what ``Train``
returns, so mypy and a reader follow a route to its operation.

A session command says what it runs (``run``), what kind of change it is (``kind``), which
settings bound it (``limits``), whether it may run for seconds (``long``) and whether its
restore point folds into the previous one (``folds``): base.py. The commands that read, step
and train are in steps.py, the other changes, history, view and links in changes.py; those
that make a new session (``Create``, ``Import``, ``Fork``) go through ``Door.create``:
create.py."""

from __future__ import annotations

from typing import Any

from app.sessions.commands.base import (
    Command,
    Kind,
    Known,
    NothingToUndo,
    Stopped,
    Trained,
    Unchanged,
    cursor_label,
)
from app.sessions.commands.changes import (
    AddPoint,
    Delete,
    Patch,
    Reconfigure,
    Redo,
    Reset,
    Reveal,
    Select,
    SetWeights,
    Undo,
    Unwatch,
    Watch,
    step_back,
)
from app.sessions.commands.create import Create, Creation, Fork, Import, drawable
from app.sessions.commands.steps import (
    Backward,
    Cancel,
    Export,
    Forward,
    GradCheck,
    RunChunk,
    State,
    Step,
    Tick,
    Train,
    TrainTo,
    Update,
)

COMMANDS: tuple[type[Command[Any]], ...] = (
    State, Export, GradCheck, Forward, Backward, Update, Step, Train, Tick, TrainTo, RunChunk,
    Cancel, Patch, SetWeights, Reset, AddPoint, Reconfigure, Reveal, Undo, Redo, Select, Watch,
    Unwatch, Delete)

__all__ = [
    "COMMANDS", "AddPoint", "Backward", "Cancel", "Command", "Create", "Creation", "Delete",
    "Export", "Fork", "Forward", "GradCheck", "Import", "Kind", "Known", "NothingToUndo",
    "Patch", "Reconfigure", "Redo", "Reset", "Reveal", "RunChunk", "Select", "SetWeights",
    "State", "Step", "Stopped", "Tick", "Train", "TrainTo", "Trained", "Unchanged", "Undo",
    "Unwatch", "Update", "Watch", "cursor_label", "drawable", "step_back",
]
