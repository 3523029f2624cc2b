"""The parts of a session's state, named once: the trainer's progress (:class:`Counters`), the
optimizer's moments (``OptState``'s fields, read by :data:`MOMENTS`) and a restore point (the
parts an operation changed). app/sessions/snapshot.py turns them into bytes; a new counter or
moment is one field here or in ``OptState``, and is then stored, exported, undone and restored
everywhere. The JSON forms snapshot writes are typed here too (a snapshot's header, the undo
ring's index and timeline, the export document), so their readers need no ``Any``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NotRequired, TypedDict

from app.jsontypes import JSON
from app.nn.activations import Array
from app.nn.optimizers import OptState
from app.nn.stepper import Phase, Status, Trainer
from app.sessions.normalized import ConfigDocument, NormalizedConfig
from app.sessions.run_state import RunDocument


@dataclass(frozen=True, slots=True)
class Counters:
    """The trainer's progress: its cursor, counters and partial sums (a few scalars)."""

    epoch: int
    iteration: int
    batch_pos: int
    epoch_loss_sum: float
    epoch_test_loss: float | None
    phase: Phase
    layer: int | None
    status: Status
    last_loss: float | None
    mse_since: int

    @classmethod
    def of(cls, t: Trainer) -> Counters:
        return cls(*(getattr(t, f.name) for f in fields(cls)))

    def put(self, t: Trainer) -> None:
        for f in fields(self):
            setattr(t, f.name, getattr(self, f.name))


# A new trainer's counters: what a snapshot saved before a counter existed gets for it.
FRESH = Counters(0, 0, 0, 0.0, None, "forward", 1, "ok", None, 0)


# --- the optimizer's state: its step and its moments, per parameter array ------------------
MOMENTS = tuple(f.name for f in fields(OptState) if f.name != "step")


def moments_of(opt: OptState) -> dict[str, tuple[Array, ...] | None]:
    return {k: getattr(opt, k) for k in MOMENTS}


Norms = tuple[float, ...] | None  # as History keeps them
HistoryTail = tuple[tuple[int, ...], tuple[float, ...], tuple[float | None, ...],
                    tuple[Norms, ...]]
NO_TAIL: HistoryTail = ((), (), (), ())
Weights = tuple[list[Array], list[Array] | None]


@dataclass(slots=True)
class RestorePoint:
    """The parts of a snapshot an operation changed (None: as the state it is applied to),
    with the counters always and the history as "keep the first k points, then these"."""

    label: str  # the operation it undoes (or redoes), for the timeline
    at: float  # when that operation ran (seconds since the epoch)
    version: int  # the session's version this point restores
    counters: Counters
    task: str
    history_keep: int
    history_tail: HistoryTail
    config: NormalizedConfig | None = None
    weights: Weights | None = None
    last: tuple[Array | None, Array | None] | None = None  # (last_output, last_targets)
    opt: OptState | None = None  # the optimizer's state, when the operation changed it

    def arrays(self) -> list[Array]:
        out: list[Array] = []
        if self.weights is not None:
            out += self.weights[0] + (self.weights[1] or [])
        if self.last is not None:
            out += [x for x in self.last if x is not None]
        if self.opt is not None:
            for xs in moments_of(self.opt).values():
                out += list(xs or ())
        return out


# The undo ring's index in a snapshot's header: per stored point (oldest first) its label, when
# it ran, its size as the byte budget counts it and its encoded length (JSON arrays).
IndexRow = tuple[str, float, int, int]


class UndoIndex(TypedDict, total=False):
    back: list[IndexRow]
    forward: list[IndexRow]


# --- a snapshot's JSON header (app/sessions/snapshot.py writes and reads it) --------------
class TraceHeader(TypedDict):
    loss: str | None  # hex float


class Header(TypedDict):
    """A snapshot's JSON header as read back (besides these, the counters: load_counters).
    The keys not required are missing from sessions stored before they existed."""

    format: str
    id: str
    config: ConfigDocument
    task: str
    last_used: float
    trace: TraceHeader | None
    history: NotRequired[int | None]  # the history's length when it is stored apart
    opt_step: NotRequired[int]
    version: NotRequired[int]
    watch_id: NotRequired[str | None]
    view_sel: NotRequired[str | None]
    run: NotRequired[RunDocument | None]
    undo: NotRequired[UndoIndex]


class TimelineEntry(TypedDict):
    """An operation on the undo timeline: ``jump`` undo (negative) or redo (positive) steps
    lead to the state right after it."""

    label: str
    at: float
    jump: int
    past: bool


# --- the export document (app/sessions/documents.py's ExportDocument validates it back) -----
class LayerDoc(TypedDict):
    """A layer's weights as lists: exported, and taken by service.set_weights (its caller's
    body validated them; set_weights checks the shapes)."""

    W: list[list[float]]
    b: list[float] | None


class ExportPoint(TypedDict):
    epoch: int
    loss: float
    test_loss: float | None
    grad_norm: list[float] | None


class ExportOptimizerState(TypedDict):
    step: int
    layers: list[dict[str, JSON]]  # per layer: m_W, v_W, m_b, v_b (null: not kept)


class ExportDoc(TypedDict):
    format: str
    config: ConfigDocument
    weights: list[LayerDoc]
    epoch: int
    iteration: int
    batch_pos: int
    mse_since: int
    epoch_loss_sum: str  # hex floats: exact
    epoch_test_loss: str | None
    status: Status
    history: list[ExportPoint]
    version: int
    optimizer_state: ExportOptimizerState
