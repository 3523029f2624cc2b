"""The one door: every write to a session, from the API or the pages, goes through here.

Each operation is a typed command (app/sessions/commands/). :meth:`Door.apply` takes the
session's lock, runs the command off the event loop, and for a change: records a restore
point (undo), bumps the session's version, saves, and publishes a change event for watchers;
the watch link's hub entry is made (Watch) or revoked (Unwatch, Delete) here too.
:meth:`Door.create` is the one way a session comes to be (Create, Import, Fork). Routes never
take a lock, nor touch the store, themselves (tests/test_architecture.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar, overload

import anyio.to_thread
from anyio import CapacityLimiter

from app.config import Settings
from app.sessions import service, undo
from app.sessions.commands import (
    Command,
    Create,
    Creation,
    Delete,
    Fork,
    Import,
    Known,
    NothingToUndo,
    Unchanged,
    Unwatch,
    Watch,
    drawable,
)
from app.sessions.config import normalize
from app.sessions.events import Event, Hub, Subscriber, WatchSummary
from app.sessions.model import Session
from app.sessions.normalized import NormalizedConfig
from app.sessions.render_budget import RenderBudget
from app.sessions.store import SessionBusy, SessionNotFound, SessionStore, StoreUnavailable
from app.sessions.watch_copies import WatchCopies

__all__ = ["Door", "Known", "NothingToUndo", "Outcome", "Unchanged", "summary"]

R = TypeVar("R")
V = TypeVar("V")
E = TypeVar("E", bound=Exception)
Admit = Callable[[], Awaitable[None]]
log = logging.getLogger("backprop_lab.door")
_NO_RESULT: Any = None


def summary(s: Session) -> WatchSummary:
    """The small event a watcher receives (SSE data)."""
    t = s.trainer
    return {"version": s.version, "epoch": t.epoch, "iteration": t.iteration,
            "cursor": {"next": t.phase, "layer": t.layer}, "loss": t.last_loss}


@dataclass
class Outcome(Generic[R]):
    """What a view sees: the session after the operation, its result, or the expected error
    it raised (then the session is unchanged), and what ``before`` returned."""

    result: R = _NO_RESULT  # (None when the command raised an expected error)
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
        self.copies = WatchCopies(store, settings.watch_cache_bytes // 2)
        # What renders and replies hold at once (app/sessions/render_budget.py).
        self.renders = RenderBudget(settings.render_memory_budget, settings.render_wait)

    @overload
    async def apply(self, sid: str, command: Command[R], *, view: None = None,
                    before: Callable[[Session], Any] | None = None,
                    cost: Callable[[Session], int] | None = None) -> R: ...

    @overload
    async def apply(self, sid: str, command: Command[R], *, view: None = None,
                    expected: tuple[type[E], ...],
                    before: Callable[[Session], Any] | None = None,
                    cost: Callable[[Session], int] | None = None) -> R | E: ...

    @overload
    async def apply(self, sid: str, command: Command[R], *,
                    view: Callable[[Session, Outcome[R]], V],
                    expected: tuple[type[Exception], ...] = (),
                    before: Callable[[Session], Any] | None = None,
                    cost: Callable[[Session], int] | None = None) -> V: ...

    async def apply(
        self, sid: str, command: Command[Any], *,
        view: Callable[[Session, Outcome[Any]], Any] | None = None,
        expected: tuple[type[Exception], ...] = (),
        before: Callable[[Session], Any] | None = None,
        cost: Callable[[Session], int] | None = None,
    ) -> Any:
        """Apply ``command`` to session ``sid``; return ``view(session, outcome)`` (run in the
        same thread, under the same lock) or else the command's result (or the ``expected``
        error it raised). ``cost``: the view's estimated peak bytes, held from the render
        budget before the command runs (RenderBusy, nothing changed, if it cannot be had in
        time)."""
        settings = self.settings
        changed: WatchSummary | None = None
        watch_id: str | None = None
        kind = command.kind
        outcome: Outcome[Any] = Outcome()
        async with self.store.use(sid, write=command.writes) as s:
            def work() -> Any:
                nonlocal changed, watch_id
                outcome.before = before(s) if before else None
                point_before = undo.capture(s) if kind == "change" else None
                step_label = command.label(s)
                try:
                    outcome.result = command.run(s, settings)
                except expected as e:
                    outcome.error = e
                    return view(s, outcome) if view else e
                if kind in ("change", "history") and not command.folds:
                    s.run = None  # another step between two chunks: the run is over
                if kind in ("change", "history", "view") and not isinstance(outcome.result,
                                                                     Unchanged):
                    if point_before is not None and settings.undo_depth > 0:
                        point = undo.point_after(s, point_before, step_label)
                        ring = s.undo
                        if command.folds and ring.back and ring.back[-1].label == step_label:
                            ring.fold(point, settings.undo_depth, settings.undo_max_bytes)
                        else:
                            ring.push(point, settings.undo_depth, settings.undo_max_bytes)
                    s.version += 1
                    changed, watch_id = summary(s), s.watch_id
                return view(s, outcome) if view else outcome.result
            if command.long:  # anyio's own pool
                async with self.renders.hold(cost(s) if cost else 0):
                    result = await anyio.to_thread.run_sync(work)
            else:
                # The turn first, then the render budget: bytes are held only while the work
                # can run. (Holding them in the queue for a turn, a class of 60 pressing Play
                # kept dozens of waiters in the budget's queue, each turn's release walking
                # them on the event loop: the busier the server, the more each tick cost.)
                async with self.limiter, self.renders.hold(cost(s) if cost else 0):
                    result = await anyio.to_thread.run_sync(work)
        # Saved (the store saves on leaving the block): now watchers may read it.
        if changed is not None and watch_id is not None:
            try:
                await self.hub.publish(sid, changed)
            except StoreUnavailable:
                # The change is saved; watchers catch up with the next one (frames are
                # states). The teacher's request must not fail for it.
                log.warning("could not publish a change event for a watched session")
        if outcome.error is None:
            await self._links(sid, command, outcome.result)
        return result

    async def _links(self, sid: str, command: Command[Any], result: Any) -> None:
        """The hub's side of the watch link, once the session is saved: linked on Watch,
        revoked (its watchers' streams end) on Unwatch and Delete."""
        if isinstance(command, Watch):
            await self.hub.link(result, sid)
        elif isinstance(command, Delete):
            if not await self.store.delete(sid):
                raise SessionNotFound(sid)
            if result is not None:
                await self.hub.revoke(result, sid)
        elif isinstance(command, Unwatch) and result is not None:
            await self.hub.revoke(result, sid)

    @overload
    async def create(self, command: Creation, *, admit: Admit | None = None) -> str: ...

    @overload
    async def create(self, command: Creation, *, admit: Admit | None = None,
                     view: Callable[[Session], V]) -> tuple[str, V]: ...

    async def create(self, command: Creation, *, admit: Admit | None = None,
                     view: Callable[[Session], Any] | None = None) -> str | tuple[str, Any]:
        """The one way a new session comes to be: ``admit`` (the client's creation count,
        429), the config normalized and checked, the session built off the event loop and
        ``view(session)`` rendered there, then added to the store (which keeps max_sessions
        and memory_budget: StoreFull / MemoryBudgetFull). Its id, with the view if any."""
        settings = self.settings
        build: Callable[[], Session]
        doc: Mapping[str, object]  # an export document, checked by service.import_session
        if isinstance(command, Fork):  # the teacher's last saved state, as an export
            doc = await self.watched(command.watch_id, service.export)
        elif isinstance(command, Import):
            doc = command.doc
        if admit is not None:
            await admit()
        if isinstance(command, Create):
            cfg = command.config
            normalized = cfg if isinstance(cfg, NormalizedConfig) else normalize(cfg, settings)
            if command.drawable is not None:
                drawable(normalized, settings, command.drawable)
            build = partial(Session.create, normalized, settings)
        else:
            build = partial(service.import_session, doc, settings)

        def work() -> tuple[Session, Any]:
            s = build()
            return s, view(s) if view else None

        session, shown = await anyio.to_thread.run_sync(work)
        await self.store.add(session)
        return session.id if view is None else (session.id, shown)

    async def watched(self, watch_id: str, view: Callable[[Session], R],
                      cost: Callable[[Session], int] | None = None) -> R:
        """``view(session)`` of the session behind a live watch link, read-only (else
        SessionNotFound, which never names the session). Watchers read the last saved state
        (app/sessions/watch_copies.py), never waiting for the session's lock nor holding it while
        their reply is rendered, and render in their own thread (``readers``), so a class
        following a big session cannot hold up the teacher's next step."""
        sid = await self.hub.resolve(watch_id) if len(watch_id) <= 64 else None
        if sid is None:
            raise SessionNotFound(watch_id)
        try:
            s = await self.copies.get(sid)
        except SessionNotFound:
            self.hub.forget(watch_id)  # expired or revoked: the link leads nowhere any more
            raise
        if s.watch_id != watch_id:
            self.hub.forget(watch_id)
            raise SessionNotFound(watch_id)
        async with self.renders.hold(cost(s) if cost else 0):  # as in apply
            return await anyio.to_thread.run_sync(view, s, limiter=self.readers)

    async def next_change(self, sub: Subscriber, watch_id: str) -> Event | None:
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
