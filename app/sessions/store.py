"""Session stores. Every request takes its session under a per-session lock, runs one
operation and puts it back, so concurrent requests on one session apply one after another.

The errors and the SessionStore protocol live in ``store_base`` (re-exported here, so
``from app.sessions.store import SessionNotFound`` keeps working); this module holds the
in-process store and the factory that picks a store from the settings."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from app.config import Settings
from app.sessions.model import Session
from app.sessions.redis_store import RedisStore
from app.sessions.store_base import (
    LocalLocks,
    MemoryBudgetFull,
    SessionBusy,
    SessionNotFound,
    SessionStore,
    StoreFull,
    StoreUnavailable,
)

__all__ = [
    "MemoryBudgetFull", "MemoryStore", "SessionBusy", "SessionNotFound", "SessionStore",
    "StoreFull", "StoreUnavailable", "make_store",
]


class MemoryStore:
    """One process: an LRU-ordered dict with an idle TTL and a cap, one asyncio lock per id."""

    name = "memory"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._locks = LocalLocks()
        self._bytes: dict[str, int] = {}  # estimated resident bytes per session
        self.total_bytes = 0

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._sessions.clear()
        self._locks.clear()
        self._bytes.clear()
        self.total_bytes = 0

    def _expire(self, holder: str | None = None) -> None:
        """Drop idle sessions (oldest first, so this stops at the first live one). A session
        in use is kept, except ``holder``'s: the caller holds that lock itself."""
        cutoff = time.time() - self.settings.session_ttl
        while self._sessions:
            sid, s = next(iter(self._sessions.items()))
            if s.last_used >= cutoff or (sid != holder and self._locked(sid)):
                break
            self._drop(sid)

    def _locked(self, sid: str) -> bool:
        return self._locks.locked(sid)

    def _drop(self, sid: str) -> None:
        self._sessions.pop(sid, None)
        self.total_bytes -= self._bytes.pop(sid, 0)

    def _account(self, sid: str, nbytes: int) -> None:
        self.total_bytes += nbytes - self._bytes.get(sid, 0)
        self._bytes[sid] = nbytes

    def _evict_for(self, need: int, keep: str) -> bool:
        """Evict least recently used idle sessions (never ``keep``, never one in use or used
        within active_window) until
        ``need`` more bytes fit the memory budget; False if they cannot."""
        budget = self.settings.memory_budget
        if self.total_bytes + need <= budget:
            return True
        now = time.time()
        window = self.settings.active_window
        for sid, s in list(self._sessions.items()):
            if sid == keep or self._locked(sid):
                continue
            if window and s.last_used + window > now:
                break  # LRU order: this one and all after it are in active use
            self._drop(sid)
            if self.total_bytes + need <= budget:
                return True
        return False

    async def add(self, session: Session) -> None:
        self._expire()
        now = time.time()
        need = session.resident_bytes()
        if not self._evict_for(need, session.id):
            raise MemoryBudgetFull(need, self.settings.memory_budget)
        while len(self._sessions) >= self.settings.max_sessions:
            oldest = next(iter(self._sessions.values()))
            active_until = oldest.last_used + self.settings.active_window
            if self.settings.active_window and active_until > now:
                raise StoreFull(active_until - now)  # LRU order: all the others are newer
            self._drop(oldest.id)
        session.last_used = now
        self._sessions[session.id] = session
        self._account(session.id, need)

    @asynccontextmanager
    async def _use(self, session_id: str) -> AsyncIterator[Session]:
        async with self._locks.hold(session_id, self.settings.lock_timeout):
            self._expire(holder=session_id)
            session = self._sessions.get(session_id)
            if session is not None and session.last_used < time.time() - self.settings.session_ttl:
                self._drop(session_id)  # idle too long (behind an older one still in use)
                session = None
            if session is None:
                raise SessionNotFound(session_id)
            try:
                yield session
            finally:
                session.last_used = time.time()
                if session_id in self._sessions:
                    self._sessions.move_to_end(session_id)
                    # It may have grown (history, batch_size): make room among the others.
                    self._account(session_id, session.resident_bytes())
                    self._evict_for(0, session_id)

    def use(self, session_id: str, write: bool = True) -> AbstractAsyncContextManager[Session]:
        # One process, one object: reads take the lock too (a train may be changing it).
        return self._use(session_id)

    async def saved(self, session_id: str, known: Any) -> tuple[Any, Session | None]:
        session = self._sessions.get(session_id)
        if session is None or session.last_used < time.time() - self.settings.session_ttl:
            raise SessionNotFound(session_id)
        tag = (id(session), session.version, session.watch_id)
        # (Watching does not touch the session: it expires when its owner leaves it idle,
        # and then its streams end.)
        if tag == known:
            return tag, None
        # One object is shared with the writers: copy it under its lock, for the few
        # milliseconds serialising takes (once per version, however many watchers ask).
        async with self._locks.hold(session_id, self.settings.lock_timeout):
            session = self._sessions.get(session_id)
            if session is None:
                raise SessionNotFound(session_id)
            tag = (id(session), session.version, session.watch_id)
            raw = session.to_bytes()
        return tag, await asyncio.to_thread(Session.from_bytes, raw, self.settings)

    async def delete(self, session_id: str) -> bool:
        self._expire()
        if session_id not in self._sessions:
            return False
        async with self._locks.hold(session_id, None):
            self._sessions.pop(session_id, None)
            self.total_bytes -= self._bytes.pop(session_id, 0)
        return True

    async def count(self) -> int:
        self._expire()
        return len(self._sessions)

    async def ping(self) -> bool:
        return True


def make_store(settings: Settings) -> SessionStore:
    if settings.store == "memory":
        return MemoryStore(settings)
    if settings.store.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(settings)
    raise ValueError(f"BACKPROP_LAB_STORE must be 'memory' or a redis:// URL; got "
                     f"{settings.store!r}")
