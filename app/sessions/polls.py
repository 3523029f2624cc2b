"""Class polls on the next value: what a poll asks (a quantity of the session's state), whether
the session has already computed it, the steps that compute it (run by the door's ``reveal``
operation), and how answers are scored and counted. Plain functions on plain data: the stores
(app/sessions/poll_store.py) keep polls and answers beside the session, and
app/sessions/poll_service.py ties them to the door and the event hub.

A quantity is ``{"field": F, "layer": L, "index": [i, j]}`` indexed like the state's arrays:
for ``z``, ``a`` and ``delta`` ``i`` is the sample's position in the batch and ``j`` the neuron;
for ``W`` and ``grad_W`` ``i`` is the neuron of layer L-1 and ``j`` that of layer L; ``b`` and
``grad_b`` take ``[j]``. ``W`` and ``b`` mean the value *after the next update*. ``"loss"``
has no layer and no index. A ``choice`` poll leaves the last index out: the choices name the
entries of that row and the right one is the entry of largest magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NotRequired, final

import numpy as np
from typing_extensions import TypedDict

from app.nn.activations import Array
from app.nn.stepper import Trainer

FIELDS = ("z", "a", "delta", "grad_W", "grad_b", "W", "b", "loss")
Kind = Literal["number", "sign", "choice"]
KINDS: tuple[Kind, ...] = ("number", "sign", "choice")
SIGNS = ("+", "-", "0")
# Fields whose value lives in the trace of the pass, per sample (rows) or per layer.
ROWS = ("z", "a", "delta")
MATRICES = ("grad_W", "W")
VECTORS = ("grad_b", "b")


Status = Literal["open", "closing", "revealed"]  # closing: a reveal is running its steps
Answer = float | str  # a number, or a sign or choice
Truth = float | list[float] | None  # the value (a choice poll's whole row); None: not found


class QuantityDocument(TypedDict):
    field: str
    layer: int | None
    index: list[int] | None  # None for the loss


class Tally(TypedDict):
    answers: int
    correct: int


class Poll(TypedDict):
    """A poll as the poll store keeps it (app/sessions/poll_store.py)."""

    poll_id: str
    quantity: QuantityDocument
    kind: Kind
    choices: list[str]
    tolerance: float
    prompt: str
    status: Status
    created: float  # wall-clock seconds
    iteration: int  # the session's, when asked: the pass the poll is about
    closing_at: NotRequired[float]  # (memory store) when its reveal began
    truth: NotRequired[Truth]  # from here on: once revealed
    steps: NotRequired[int]
    revealed: NotRequired[float]
    tally: NotRequired[Tally]


class AnswerRecord(TypedDict):
    """One student's answer as stored: the answer, when (wall-clock seconds), the nickname."""

    a: Answer
    t: float
    n: str | None


@final
class CountBin(TypedDict):
    """How many gave this sign or choice."""

    answer: str
    count: int


@final
class RangeBin(TypedDict):
    """How many numbers fell in [lo, hi)."""

    lo: float
    hi: float
    count: int


class PublicPoll(TypedDict):
    """What a student sees: no truth before the reveal."""

    poll_id: str
    kind: Kind
    prompt: str
    choices: list[str]
    tolerance: float
    status: Literal["open", "revealed"]
    answers: int
    truth: NotRequired[Truth]  # both once revealed
    right_answer: NotRequired[Answer | None]


class StudentResult(PublicPoll):
    """A student's own answer (None: none given); after the reveal whether it was right."""

    answer: Answer | None
    correct: NotRequired[bool | None]


class Receipt(TypedDict):
    """The reply to an answer."""

    poll_id: str
    status: Literal["open"]
    answer: Answer
    answers: int


class TeacherPoll(TypedDict):
    """The whole poll: its definition, count and histogram; once revealed the true value, the
    right answer and how many answers were within tolerance."""

    poll_id: str
    quantity: QuantityDocument
    kind: Kind
    choices: list[str]
    tolerance: float
    prompt: str
    status: Status
    created: float
    answers: int
    histogram: list[CountBin] | list[RangeBin]
    truth: NotRequired[Truth]  # from here on: once revealed
    right_answer: NotRequired[Answer | None]
    correct: NotRequired[int]
    share_correct: NotRequired[float | None]
    steps: NotRequired[int]
    revealed: NotRequired[float | None]


class PollError(ValueError):
    """Bad poll input (HTTP 422): ``field`` names the body field, as a ConfigError's path."""

    def __init__(self, field: tuple[str | int, ...], msg: str) -> None:
        super().__init__(msg)
        self.field = field
        self.msg = msg


class PollConflict(Exception):
    """The poll cannot be made or answered now (HTTP 409); the message says why."""


@dataclass(frozen=True)
class Quantity:
    field: str
    layer: int | None = None
    index: tuple[int, ...] = ()

    def to_dict(self) -> QuantityDocument:
        return {"field": self.field, "layer": self.layer,
                "index": list(self.index) if self.field != "loss" else None}

    @classmethod
    def of(cls, d: QuantityDocument) -> Quantity:
        return cls(d["field"], d.get("layer"), tuple(d.get("index") or ()))

    def label(self) -> str:
        """Plain text for CSV and messages: delta[2][0, 1], loss."""
        if self.field == "loss":
            return "loss"
        return f"{self.field}[{self.layer}][{', '.join(str(i) for i in self.index)}]"


def check_quantity(t: Trainer, raw: Mapping[str, object], kind: str) -> Quantity:
    """The quantity, checked against the session's shapes (PollError naming the field)."""
    field = raw.get("field")
    if field not in FIELDS:
        raise PollError(("quantity", "field"), f"field must be one of {', '.join(FIELDS)}")
    if field == "loss":
        if raw.get("layer") is not None or raw.get("index"):
            raise PollError(("quantity",), "the loss has no layer and no index: leave them out")
        if kind == "choice":
            raise PollError(("kind",), "the loss is one number: ask a number or sign poll")
        return Quantity("loss")
    L = t.L
    layer = raw.get("layer")
    if not isinstance(layer, int) or isinstance(layer, bool) or not 1 <= layer <= L:
        raise PollError(("quantity", "layer"), f"layer must be 1 to {L} (the layer of the "
                        "state's layers[layer-1])")
    if field in VECTORS and t.net.b is None:
        raise PollError(("quantity", "field"), "this network has no biases")
    sizes = t.net.spec.layers
    shape: tuple[int, ...]
    names: tuple[str, ...]
    if field in ROWS:
        rows = len(t.trace.indices) if t.trace is not None else len(t.batch_indices())
        shape = (rows, sizes[layer])
        names = ("the sample's position in the batch", "the neuron")
    elif field in MATRICES:
        shape = (sizes[layer - 1], sizes[layer])
        names = ("the neuron of the layer before", "the neuron")
    else:
        shape = (sizes[layer],)
        names = ("the neuron",)
    want = len(shape) - (1 if kind == "choice" else 0)
    if want == 0:
        raise PollError(("kind",), f"{field} has one entry per neuron: a choice poll names the "
                        "neurons of one layer, so ask it on z, a, delta, W or grad_W")
    index = raw.get("index")
    if (not isinstance(index, list) or len(index) != want
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in index)):
        raise PollError(("quantity", "index"), f"index must be a list of {want} whole "
                        f"number(s) for {field} ({', '.join(names[:want])})")
    for k, (i, n) in enumerate(zip(index, shape, strict=False)):
        if not 0 <= i < n:
            raise PollError(("quantity", "index", k), f"index {k} ({names[k]}) must be 0 to "
                            f"{n - 1}; got {i}")
    return Quantity(field, layer, tuple(index))


def choice_count(t: Trainer, q: Quantity) -> int:
    """How many entries a choice poll on ``q`` chooses among (its row's length)."""
    assert q.layer is not None
    return int(t.net.spec.layers[q.layer])


def computed(t: Trainer, q: Quantity) -> bool:
    """Whether the current pass has already computed ``q`` (it is on screen). W and b mean the
    values after the next update, which no pass in progress has computed yet."""
    tr = t.trace
    if q.field in ("W", "b") or tr is None:
        return False
    if q.field == "loss":
        return tr.loss is not None
    assert q.layer is not None
    source = tr.z if q.field in ("z", "a") else tr.delta  # delta, grad_W, grad_b come together
    return source[q.layer - 1] is not None


def _array(t: Trainer, q: Quantity) -> Array | None:
    assert q.layer is not None
    l = q.layer - 1
    if q.field == "W":
        return t.net.W[l]
    if q.field == "b":
        return None if t.net.b is None else t.net.b[l]
    tr = t.trace
    if tr is None:
        return None
    return {"z": tr.z, "a": tr.a, "delta": tr.delta, "grad_W": tr.grad_W,
            "grad_b": tr.grad_b}[q.field][l]


def value(t: Trainer, q: Quantity) -> float | list[float] | None:
    """The quantity's value as the state has it (a row for a choice poll's index); None when
    it is not there."""
    if q.field == "loss":
        return None if t.trace is None else t.trace.loss
    arr = _array(t, q)
    if arr is None:
        return None
    picked = arr[q.index] if q.index else arr
    if isinstance(picked, np.ndarray):
        return [float(x) for x in picked.ravel()]
    return float(picked)


@dataclass
class Revealed:
    """What the reveal operation found: the value (None when the session moved past it or a
    step diverged) and how many steps it ran."""

    truth: float | list[float] | None
    steps: int


def reveal_steps(t: Trainer, q: Quantity, iteration: int) -> Revealed:
    """Run exactly the steps that compute ``q`` for the pass the poll was asked in (the session
    at ``iteration``): none when it is computed already, then the forward, backward and update
    steps up to it. A session that has moved past that pass (or diverged) gives no value."""
    steps = 0
    max_steps = 2 * t.L + 1  # one whole pass
    if q.field in ("W", "b"):
        if t.iteration == iteration + 1 and t.trace is None and t.phase == "forward":
            return Revealed(value(t, q), 0)  # the teacher has just done that update
        if t.iteration != iteration:
            return Revealed(None, 0)
        while t.iteration == iteration and steps < max_steps:
            steps += 1
            if not t.step():
                return Revealed(None, steps)
        return Revealed(value(t, q), steps)
    if t.iteration != iteration:
        return Revealed(None, 0)
    while not computed(t, q) and steps < max_steps:
        steps += 1
        if not t.step():
            return Revealed(None, steps)
    return Revealed(value(t, q) if computed(t, q) else None, steps)


# --- answers -------------------------------------------------------------------------------
def check_answer(kind: str, choices: list[str], answer: object) -> Answer:
    """The answer in its stored form (PollError naming ``answer``)."""
    if kind == "number":
        if isinstance(answer, bool) or not isinstance(answer, int | float) \
                or not math.isfinite(answer) or abs(answer) > 1e300:
            raise PollError(("answer",), "answer must be a finite number for a number poll")
        return float(answer)
    if kind == "sign":
        if answer not in SIGNS:
            raise PollError(("answer",), 'answer must be "+", "-" or "0" for a sign poll')
        return str(answer)
    if not isinstance(answer, str) or answer not in choices:
        raise PollError(("answer",), "answer must be one of the poll's choices")
    return answer


def sign_of(x: float) -> str:
    return "+" if x > 0 else "-" if x < 0 else "0"


def right_answer(poll: Poll) -> Answer | None:
    """What a right answer is: the number, its sign, or the choice of largest magnitude."""
    truth = poll.get("truth")
    if truth is None:
        return None
    if isinstance(truth, float | int):  # a number or sign poll
        return float(truth) if poll["kind"] == "number" else sign_of(float(truth))
    mags = [abs(v) for v in truth]
    return str(poll["choices"][int(np.argmax(mags))])


def is_correct(poll: Poll, answer: Answer) -> bool | None:
    """Within tolerance: |answer − truth| ≤ tolerance·|truth| (a number), the same sign, or
    the right choice. None before the reveal (or with no value)."""
    right = right_answer(poll)
    if right is None:
        return None
    if poll["kind"] == "number":
        assert isinstance(right, float) and isinstance(answer, float)
        return bool(abs(answer - right) <= float(poll["tolerance"]) * abs(right))
    return answer == right


BINS = 10


def histogram(poll: Poll, answers: list[Answer]) -> list[CountBin] | list[RangeBin]:
    """Numbers in equal-width bins over the answers (and the truth, once revealed); signs and
    choices counted, every option listed."""
    counted: list[CountBin]
    if poll["kind"] == "sign":
        counted = [{"answer": s, "count": sum(1 for a in answers if a == s)} for s in SIGNS]
        return counted
    if poll["kind"] == "choice":
        counted = [{"answer": c, "count": sum(1 for a in answers if a == c)}
                   for c in poll["choices"]]
        return counted
    xs = [float(a) for a in answers]
    right = right_answer(poll)
    span = xs + ([right] if isinstance(right, float) else [])
    bins: list[RangeBin] = []
    if not span:
        return bins
    lo, hi = min(span), max(span)
    if not hi > lo or not math.isfinite(hi - lo):
        bins.append({"lo": lo, "hi": hi, "count": len(xs)})
        return bins
    counts, edges = np.histogram(np.array(xs, dtype=np.float64), bins=BINS, range=(lo, hi))
    bins = [{"lo": float(edges[k]), "hi": float(edges[k + 1]), "count": int(counts[k])}
            for k in range(BINS)]
    return bins
