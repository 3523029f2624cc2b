"""Undo and redo: a bounded ring of compact restore points kept inside the Session.

Capturing and restoring a restore point live here; what a point holds is named in
app/sessions/parts.py and its bytes are app/sessions/snapshot.py's (one snapshot: a part of a
session added there is undone here without another change).

A restore point is a diff of snapshots: what an operation changed and nothing it can
recompute: the counters and cursor (always; ``Counters``), the config only when the operation
replaced it, the weights and the last completed forward pass's output only when they changed,
and the loss history as "keep the first k points, then append these" (so a step that appended
one point costs one point, and only a compaction or a reset stores the whole earlier curve).
The trace of a pass in progress is never stored: restoring replays the forward/backward steps
up to the cursor, which is deterministic, so the trace comes back bit for bit.

Applying a point returns its inverse (the point that goes back), which is how undo feeds redo
and redo feeds undo. Both stacks are bounded by ``undo_depth`` points and ``undo_max_bytes``;
the oldest points go first.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from app.nn.activations import Array
from app.nn.network import Network
from app.nn.optimizers import OptState
from app.nn.stepper import History
from app.sessions.normalized import NormalizedConfig
from app.sessions.parts import (
    NO_TAIL,
    Counters,
    HistoryTail,
    IndexRow,
    Norms,
    RestorePoint,
    TimelineEntry,
    UndoIndex,
    Weights,
)
from app.sessions.snapshot import config_bytes, decode_point, encode_point

__all__ = ["NO_TAIL", "Before", "HistoryTail", "RestorePoint", "UndoRing", "capture",
           "compose", "point_after", "restore"]


def point_bytes(p: RestorePoint) -> int:
    """What a point costs in memory, Python objects included (measured: a point of a step,
    2-4-1, is about 1 KB)."""
    n = 700 + 80 * len(p.history_tail[0])
    n += sum(60 + 30 * len(g) for g in p.history_tail[3] if g)
    n += sum(120 + x.nbytes for x in p.arrays())
    return n + config_bytes(p.config)


@dataclass
class Before:
    """What an operation may change, captured just before it runs (cheap: the weights are
    copied, everything else is referenced; the config, history lists and last output are
    replaced, never mutated, by the operations, except that history lists grow in place)."""

    counters: Counters
    task: str
    config: NormalizedConfig
    weights: Weights
    last: tuple[Array | None, Array | None]
    history: tuple[list[int], list[float], list[float | None], list[Norms]]  # the lists
    history_len: int
    version: int
    opt: OptState | None = None  # referenced: an update replaces the state, never mutates it


def _weights(net: Network) -> Weights:
    return [W.copy() for W in net.W], None if net.b is None else [b.copy() for b in net.b]


def _same_weights(a: Weights, b: Weights) -> bool:
    if (a[1] is None) != (b[1] is None) or len(a[0]) != len(b[0]):
        return False
    pairs = list(zip(a[0], b[0], strict=True)) + list(zip(a[1] or [], b[1] or [], strict=True))
    return all(x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in pairs)


def capture(s: Any) -> Before:
    t = s.trainer
    return Before(Counters.of(t), s.task, s.config, _weights(t.net),
                  (t.last_output, t.last_targets),
                  (t.history.epoch, t.history.loss, t.history.test_loss, t.history.grad_norm),
                  len(t.history.epoch),
                  s.version, t.opt_state)


def _copy(x: Array | None) -> Array | None:
    return None if x is None else x.copy()


def point_after(s: Any, before: Before, label: str) -> RestorePoint:
    """The point that takes ``s`` (just changed by an operation) back to ``before``."""
    t = s.trainer
    h = t.history
    n = before.history_len
    # The operations only append to the history lists in place; a compaction or a reset
    # replaces them, and then the whole earlier curve is kept.
    appended = h.epoch is before.history[0] and len(h.epoch) >= n
    keep = n if appended else 0
    old_e, old_l, old_t, old_g = before.history
    tail = (tuple(old_e[keep:n]), tuple(old_l[keep:n]), tuple(old_t[keep:n]),
            tuple(old_g[keep:n])) if keep < n else NO_TAIL
    now = (t.last_output, t.last_targets)
    last_changed = now[0] is not before.last[0] or now[1] is not before.last[1]
    weights = None if _same_weights(before.weights, (t.net.W, t.net.b)) else before.weights
    return RestorePoint(
        label, time.time(), before.version, before.counters, before.task, keep, tail,
        config=None if s.config is before.config else before.config,
        weights=weights,
        last=(_copy(before.last[0]), _copy(before.last[1])) if last_changed else None,
        opt=None if t.opt_state is before.opt else before.opt,
    )


def compose(newer: RestorePoint, older: RestorePoint) -> RestorePoint:
    """One point that does what applying ``newer`` and then ``older`` does: the state before
    ``older``'s operation, from the state after ``newer``'s (a long run's chunks folded into
    one undoable step). Each field is ``older``'s when it stored one, else ``newer``'s (None
    means "as the state it is applied to"). The history: ``newer`` keeps k2 points and
    appends its tail, then ``older`` keeps k1 of those and appends its own tail."""
    k1, k2 = older.history_keep, newer.history_keep
    if k1 <= k2:
        keep, tail = k1, older.history_tail
    else:  # older keeps some of the points newer put back
        cut = k1 - k2
        (ne, nl, nt, ng), (oe, ol, ot, og) = newer.history_tail, older.history_tail
        tail = (ne[:cut] + oe, nl[:cut] + ol, nt[:cut] + ot, ng[:cut] + og)
        keep = k2
    return RestorePoint(
        older.label, older.at, older.version, older.counters, older.task, keep, tail,
        config=older.config if older.config is not None else newer.config,
        weights=older.weights if older.weights is not None else newer.weights,
        last=older.last if older.last is not None else newer.last,
        opt=older.opt if older.opt is not None else newer.opt,
    )


def restore(s: Any, p: RestorePoint, build_data: Any, spec_of: Any) -> RestorePoint:
    """Put ``s`` in the state ``p`` describes; returns the inverse point (to go back).

    All or nothing: the new state is built on a copy of the trainer and assigned to ``s``
    only once complete, so a point that cannot be applied (an exception) leaves ``s`` as it
    was (the caller keeps the point on its stack)."""
    old = s.trainer
    h = old.history
    k = p.history_keep
    inverse = RestorePoint(
        p.label, p.at, s.version, Counters.of(old), s.task, k,
        (tuple(h.epoch[k:]), tuple(h.loss[k:]), tuple(h.test_loss[k:]),
         tuple(h.grad_norm[k:])),
        config=None if p.config is None else s.config,
        weights=None if p.weights is None else _weights(old.net),
        last=None if p.last is None else (_copy(old.last_output), _copy(old.last_targets)),
        opt=None if p.opt is None else old.opt_state,
    )
    # A shallow copy: every attribute changed below is replaced, never mutated in place.
    t = copy.copy(old)
    config = s.config if p.config is None else p.config
    if p.config is not None:
        # The data follows from the whole config (data set, added points, input features,
        # output width): rebuild it whenever the config is replaced, so rows always hold
        # layers[0] values (the compiled kernel trusts that).
        t.data = build_data(config)[0]
    Ws, bs = p.weights if p.weights is not None else (old.net.W, old.net.b)
    t.net = Network(spec_of(config), [W.copy() for W in Ws],
                    None if bs is None else [b.copy() for b in bs])
    t.optimizer = config.optimizer
    if p.opt is not None:
        t.opt_state = p.opt
    tail = p.history_tail
    t.history = History(h.epoch[:k] + list(tail[0]), h.loss[:k] + list(tail[1]),
                        h.test_loss[:k] + list(tail[2]), h.grad_norm[:k] + list(tail[3]))
    t.hyper = config  # (the trainer reads its hyperparameters from the config)
    p.counters.put(t)
    check_consistent(config, t)
    last = p.last if p.last is not None else (old.last_output, old.last_targets)
    _replay(t)
    p.counters.put(t)  # the replay may have touched counters
    t.last_output, t.last_targets = _copy(last[0]), _copy(last[1])
    s.task, s.trainer = p.task, t
    return inverse


def check_consistent(config: NormalizedConfig, t: Any) -> None:
    """The trainer's arrays fit the config's layers (else ValueError: never train on them)."""
    layers = config.layers
    d = t.data
    if d.X.ndim != 2 or d.X.shape[1] != layers[0] or d.Y.ndim != 2 \
            or d.Y.shape != (len(d.X), layers[-1]):
        raise ValueError(f"the data ({d.X.shape}, {d.Y.shape}) does not fit layers {layers}")
    shapes = [W.shape for W in t.net.W]
    if shapes != list(itertools.pairwise(layers)):
        raise ValueError(f"the weights {shapes} do not fit layers {layers}")


def _replay(t: Any) -> None:
    """Recompute the trace of the pass in progress: the same steps on the same weights."""
    target = (t.phase, t.layer)
    t.discard_pass()
    for _ in range(2 * t.L + 1):  # a pass has at most 2L steps before the update
        if (t.phase, t.layer) == target:
            return
        if not t.step():
            break
    raise RuntimeError("replaying the pass did not reach the recorded cursor")


@dataclass(slots=True)
class Entry:
    """A restore point on the ring, as an object or as the bytes a store saved (decoded only
    when it is applied: loading a session with a full ring stays cheap)."""

    label: str
    at: float
    size: int  # bytes in memory, estimated when the point was made
    point: RestorePoint | None = None
    blob: bytes | None = None

    @classmethod
    def of(cls, p: RestorePoint) -> Entry:
        return cls(p.label, p.at, point_bytes(p), p)

    def get(self) -> RestorePoint:
        if self.point is None:
            assert self.blob is not None
            self.point = decode_point(self.blob)
        return self.point

    def encoded(self) -> bytes:
        if self.blob is None:  # once per point: it never changes
            assert self.point is not None
            self.blob = encode_point(self.point)
        return self.blob


@dataclass
class UndoRing:
    back: list[Entry] = field(default_factory=list)  # oldest first
    forward: list[Entry] = field(default_factory=list)  # the next redo last

    def push(self, p: RestorePoint, depth: int, max_bytes: int) -> None:
        """A new operation: its point goes on the back stack, the redo side is dropped."""
        self.forward.clear()
        self.back.append(Entry.of(p))
        self.bound(depth, max_bytes)

    def fold(self, p: RestorePoint, depth: int, max_bytes: int) -> None:
        """Fold ``p`` (the point of an operation that continues the newest one) into the
        newest point: still one step to undo."""
        top = self.back.pop()
        self.back.append(Entry.of(compose(p, top.get())))
        self.bound(depth, max_bytes)

    def bound(self, depth: int, max_bytes: int) -> None:
        for stack in (self.back, self.forward):
            if len(stack) > depth:
                del stack[: len(stack) - depth]
        total = self.nbytes()
        while total > max_bytes and (self.back or self.forward):
            # Drop the oldest past first, then the farthest future.
            victim = self.back.pop(0) if self.back else self.forward.pop(0)
            total -= victim.size

    def nbytes(self) -> int:
        return sum(e.size for e in self.back) + sum(e.size for e in self.forward)

    def counts(self) -> dict[str, int]:
        return {"back": len(self.back), "forward": len(self.forward)}

    def timeline(self, limit: int) -> list[TimelineEntry]:
        """Recent operations, oldest first, each with ``jump``: the undo (negative) or redo
        (positive) steps that lead to the state right after it (0: the current state)."""
        past = [TimelineEntry(label=e.label, at=e.at, jump=-(len(self.back) - 1 - i), past=True)
                for i, e in enumerate(self.back)][-limit:]
        future = [TimelineEntry(label=e.label, at=e.at, jump=len(self.forward) - i, past=False)
                  for i, e in enumerate(self.forward)][::-1][:limit]
        return past + future

    # --- serialisation (app/sessions/snapshot.py): the points' bytes, their index -----------
    def dump(self) -> tuple[UndoIndex, bytes]:
        def rows(stack: list[Entry]) -> list[IndexRow]:
            return [(e.label, e.at, e.size, len(e.encoded())) for e in stack]

        header: UndoIndex = {"back": rows(self.back), "forward": rows(self.forward)}
        return header, b"".join(e.encoded() for e in (*self.back, *self.forward))

    @classmethod
    def load(cls, header: UndoIndex | None, raw: bytes | None) -> UndoRing:
        ring = cls()
        if not header or raw is None:
            return ring
        at = 0
        for index, stack in ((header.get("back", []), ring.back),
                             (header.get("forward", []), ring.forward)):
            for label, when, size, n in index:
                stack.append(Entry(label, when, size, None, raw[at:at + n]))
                at += n
        return ring
