"""The one door: every operation on a session, from the API or the pages, is applied here.

``OPERATIONS`` names each operation, what it runs, what kind of change it is and which
settings bound it. :meth:`Door.apply` takes the session's lock, runs the operation off the
event loop, and for a change: records a restore point (undo), bumps the session's version,
saves, and publishes a change event for watchers. Routes never take a lock themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

from app.config import Settings
from app.nn.kernel_slot import KernelWarming
from app.sessions import data_edits, polls, runs, service, undo
from app.sessions.config import ConfigError
from app.sessions.events import Hub, Subscriber
from app.sessions.model import Session, build_data, spec_of
from app.sessions.render_budget import RenderBudget
from app.sessions.snapshots import Snapshots
from app.sessions.store import SessionBusy, SessionNotFound, SessionStore, StoreUnavailable

# read: changes nothing. change: a state change (restore point, version, event).
# history: undo/redo, view: what the teacher shows (version and event, no restore point).
# meta: saved, not a state change (the watch link).
Kind = Literal["read", "change", "history", "view", "meta"]
R = TypeVar("R")
log = logging.getLogger("backprop_lab.door")


class NothingToUndo(Exception):
    """Undo (or redo) with nothing on that side (HTTP 409)."""

    def __init__(self, direction: str) -> None:
        super().__init__(f"nothing to {direction}")
        self.direction = direction


class Unchanged:
    """Returned by an operation that decided to change nothing (a Play tick on a diverged
    network): no restore point, no new version."""


@dataclass(frozen=True)
class Operation:
    name: str
    run: Callable[..., Any]  # (session, settings, *args) -> result
    kind: Kind
    limits: tuple[str, ...] = ()  # the settings that bound it
    # May run for seconds (a time budget of its own): it does not wait for, nor hold up, the
    # short operations' turns (Door.limiter), so a long train never stalls a class's Play.
    long: bool = False
    # Its restore point folds into the newest one when both carry the same label (the chunks
    # of one long training run: one undoable step).
    folds: bool = False

    @property
    def writes(self) -> bool:
        return self.kind != "read"


def _train(s: Session, settings: Settings, epochs: int, budget: float | None = None
           ) -> Any:
    if budget is not None:
        if s.trainer.status == "diverged":
            return Unchanged()
        settings = settings.model_copy(update={"train_time_budget": min(
            budget, settings.train_time_budget)})
        try:  # a tick waits for the compiled kernel within its own budget only
            return service.train(s, epochs, settings, wait=settings.train_time_budget)
        except KernelWarming:  # a Play tick trains nothing yet; the page polls again
            return Unchanged()
    return service.train(s, epochs, settings)


def _train_to(s: Session, settings: Settings, target: int) -> Any:
    """Train until the session's epoch is ``target`` (a script's loop: the same call until
    nothing remains); nothing to do is no change."""
    left = target - s.trainer.epoch
    if left <= 0:
        return Unchanged()
    if left > settings.max_epochs:
        raise ConfigError(("target_epoch",), f"target_epoch may be at most max_epochs "
                          f"({settings.max_epochs}) beyond the session's epoch "
                          f"{s.trainer.epoch}; got {target}")
    return service.train(s, left, settings)


def _run(s: Session, settings: Settings, run_id: str, total: int | None, budget: float
         ) -> Any:
    result = runs.chunk(s, settings, run_id, total, budget)
    return Unchanged() if result is None else result


def _cancel(s: Session, settings: Settings) -> Any:
    result = runs.cancel(s, settings)
    return Unchanged() if result is None else result


def _step_back(s: Session, settings: Settings, steps: int = 1) -> int:
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


def _watch(s: Session, settings: Settings) -> str:
    if s.watch_id is None:
        s.watch_id = service.new_watch_id()
    return s.watch_id


def _select(s: Session, settings: Settings, sel: str | None) -> Unchanged | None:
    if s.view_sel == sel:
        return Unchanged()
    s.view_sel = sel
    return None


class Known(Unchanged):
    """A poll's value the session had already computed: nothing ran."""

    def __init__(self, found: polls.Revealed) -> None:
        self.found = found


def _reveal(s: Session, settings: Settings, q: polls.Quantity, iteration: int
            ) -> polls.Revealed | Known:
    """A poll's reveal: exactly the steps that compute its quantity (one restore point)."""
    found = polls.reveal_steps(s.trainer, q, iteration)
    return found if found.steps else Known(found)


def _unwatch(s: Session, settings: Settings) -> str | None:
    old, s.watch_id = s.watch_id, None
    return old


OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation("state", lambda s, st: None, "read"),
    Operation("export", lambda s, st: service.export(s, st), "read"),
    Operation("gradcheck", lambda s, st, eps, cancelled=None: service.gradcheck(
        s, eps, st, cancelled), "read",
              ("gradcheck_max_work", "gradcheck_time_budget"), long=True),
    Operation("forward", lambda s, st, through=False: service.forward(s, through), "change"),
    Operation("backward", lambda s, st, through=False: service.backward(s, through), "change"),
    Operation("update", lambda s, st: service.update(s), "change"),
    Operation("step", lambda s, st: service.step(s), "change"),
    Operation("train", _train, "change", ("max_epochs", "train_time_budget"), long=True),
    Operation("tick", _train, "change", ("tick_budget",)),
    Operation("train_to", _train_to, "change", ("max_epochs", "train_time_budget"), long=True),
    # A chunk of a long run on the page (app/sessions/runs.py): its own time budget, one
    # restore point for the whole run.
    Operation("run", _run, "change", ("max_epochs", "train_time_budget", "run_chunk_budget"),
              long=True, folds=True),
    Operation("cancel", _cancel, "view"),
    Operation("patch", lambda s, st, changes: service.patch(s, changes, st), "change",
              ("max_learning_rate", "max_regularization_rate")),
    Operation("weights", lambda s, st, layers: service.set_weights(s, layers, st), "change",
              ("max_abs_value",)),
    Operation("reset", lambda s, st, config=None: service.reset(s, config, st), "change"),
    Operation("points", lambda s, st, x1, x2, y: data_edits.add_point(s, x1, x2, y, st),
              "change", ("max_added_points",)),
    # A new configuration built from the current one (the page's "change the experiment"):
    # new weights, same id; undoable like reset.
    Operation("reconfigure", lambda s, st, build: service.reset(s, build(s.config), st),
              "change"),
    Operation("undo", lambda s, st, steps=1: _step_back(s, st, steps), "history",
              ("undo_depth", "undo_max_bytes")),
    Operation("redo", lambda s, st, steps=1: _step_back(s, st, -steps), "history",
              ("undo_depth", "undo_max_bytes")),
    Operation("reveal", _reveal, "change"),
    Operation("select", _select, "view"),
    Operation("watch", _watch, "meta"),
    Operation("unwatch", _unwatch, "meta"),
)}


def label(name: str, s: Session, args: tuple[Any, ...]) -> str:
    """What the timeline calls a step: F2 / B1 / update for single steps, else the name."""
    t = s.trainer
    if name == "step" or (name in ("forward", "backward") and not (args and args[0])):
        if t.phase == "update":
            return "update"
        return f"{'F' if t.phase == 'forward' else 'B'}{t.layer}"
    if name == "train" and args and args[0] == 1:
        return "epoch"
    if name == "run":
        return runs.label(s, args)
    if name == "train_to":
        return "train"  # the timeline names it as any train call
    return name


def summary(s: Session) -> dict[str, Any]:
    """The small event a watcher receives (SSE data)."""
    t = s.trainer
    return {"version": s.version, "epoch": t.epoch, "iteration": t.iteration,
            "cursor": {"next": t.phase, "layer": t.layer}, "loss": t.last_loss}


@dataclass
class Outcome(Generic[R]):
    """What a view sees: the session after the operation, its result, or the expected error
    it raised (then the session is unchanged), and what ``before`` returned."""

    result: Any = None
    error: Exception | None = None
    before: Any = None


class Door:
    def __init__(self, store: SessionStore, settings: Settings, hub: Hub) -> None:
        self.store = store
        self.settings = settings
        self.hub = hub
        # Short operations run in at most this many threads at once; the rest wait their turn
        # in order (dozens of threads taking the GIL from each other cost more CPU than the
        # work). Long ones (train, gradcheck: seconds) use anyio's own pool beside them.
        self.limiter = CapacityLimiter(settings.parallel_operations)
        # Watchers' renders take turns in one thread of their own: never the slots above.
        self.readers = CapacityLimiter(1)
        self.snapshots = Snapshots(store, settings.watch_cache_bytes // 2)
        # What renders and replies hold at once (app/sessions/render_budget.py).
        self.renders = RenderBudget(settings.render_memory_budget, settings.render_wait)

    async def apply(
        self, sid: str, name: str, *args: Any,
        view: Callable[[Session, Outcome[Any]], R] | None = None,
        expected: tuple[type[Exception], ...] = (),
        before: Callable[[Session], Any] | None = None,
        cost: Callable[[Session], int] | None = None,
    ) -> R | Any:
        """Apply operation ``name`` to session ``sid``; return ``view(session, outcome)`` (run
        in the same thread, under the same lock) or else the operation's result. ``cost``: the
        view's estimated peak bytes, held from the render budget before the operation runs
        (RenderBusy, nothing changed, if it cannot be had in time)."""
        op = OPERATIONS[name]
        settings = self.settings
        changed: dict[str, Any] | None = None
        watch_id: str | None = None
        async with self.store.use(sid, write=op.writes) as s:
            def work() -> Any:
                nonlocal changed, watch_id
                outcome: Outcome[Any] = Outcome(before=before(s) if before else None)
                point_before = undo.capture(s) if op.kind == "change" else None
                step_label = label(name, s, args)
                try:
                    outcome.result = op.run(s, settings, *args)
                except expected as e:
                    outcome.error = e
                    return view(s, outcome) if view else e
                if op.kind in ("change", "history") and not op.folds:
                    s.run = None  # another step between two chunks: the run is over
                if op.kind in ("change", "history", "view") and not isinstance(outcome.result,
                                                                        Unchanged):
                    if point_before is not None and settings.undo_depth > 0:
                        point = undo.point_after(s, point_before, step_label)
                        ring = s.undo
                        if op.folds and ring.back and ring.back[-1].label == step_label:
                            ring.fold(point, settings.undo_depth, settings.undo_max_bytes)
                        else:
                            ring.push(point, settings.undo_depth, settings.undo_max_bytes)
                    s.version += 1
                    changed, watch_id = summary(s), s.watch_id
                return view(s, outcome) if view else outcome.result
            async with self.renders.hold(cost(s) if cost else 0):
                result = await anyio.to_thread.run_sync(
                    work, limiter=None if op.long else self.limiter)
        # Saved (the store saves on leaving the block): now watchers may read it.
        if changed is not None and watch_id is not None:
            try:
                await self.hub.publish(sid, changed)
            except StoreUnavailable:
                # The change is saved; watchers catch up with the next one (frames are
                # states). The teacher's request must not fail for it.
                log.warning("could not publish a change event for a watched session")
        return result

    async def watched(self, watch_id: str, view: Callable[[Session], R],
                      cost: Callable[[Session], int] | None = None) -> R:
        """``view(session)`` of the session behind a live watch link, read-only (else
        SessionNotFound, which never names the session). Watchers read the last saved state
        (app/sessions/snapshots.py), never waiting for the session's lock nor holding it while
        their reply is rendered, and render in their own thread (``readers``), so a class
        following a big session cannot hold up the teacher's next step."""
        sid = await self.hub.resolve(watch_id) if len(watch_id) <= 64 else None
        if sid is None:
            raise SessionNotFound(watch_id)
        try:
            s = await self.snapshots.get(sid)
        except SessionNotFound:
            self.hub.forget(watch_id)  # expired or revoked: the link leads nowhere any more
            raise
        if s.watch_id != watch_id:
            self.hub.forget(watch_id)
            raise SessionNotFound(watch_id)
        async with self.renders.hold(cost(s) if cost else 0):  # as in apply
            return await anyio.to_thread.run_sync(view, s, limiter=self.readers)

    async def next_change(self, sub: Subscriber, watch_id: str) -> dict[str, Any] | None:
        """The next change event of a followed session, or None once its link is revoked or
        the session is gone: a quiet stream checks every watch_check_interval seconds, so the
        streams of an expired, evicted or deleted session end and free their slots."""
        while True:
            try:
                async with asyncio.timeout(self.settings.watch_check_interval):
                    return await sub.next()
            except TimeoutError:
                try:
                    await self.watched(watch_id, lambda s: s.version)
                except SessionNotFound:
                    return None
                except (SessionBusy, StoreUnavailable):
                    continue  # cannot tell now: ask again after the next interval
