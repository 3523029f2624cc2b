"""Session stores. Every request takes its session under a per-session lock, runs one
operation and puts it back, so concurrent requests on one session apply one after another."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from app.config import Settings
from app.sessions.model import Session


class SessionNotFound(KeyError):
    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.session_id = session_id


class SessionStore(Protocol):
    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def add(self, session: Session) -> None: ...

    def use(self, session_id: str) -> AbstractAsyncContextManager[Session]:
        """The session under its lock; changes made inside are saved on exit."""
        ...

    async def delete(self, session_id: str) -> bool: ...

    async def count(self) -> int: ...

    async def ping(self) -> bool: ...


class MemoryStore:
    """One process: an LRU-ordered dict with an idle TTL and a cap, one asyncio lock per id."""

    name = "memory"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._sessions.clear()
        self._locks.clear()

    def _expire(self) -> None:
        """Drop idle sessions (oldest first, so this stops at the first live one)."""
        cutoff = time.time() - self.settings.session_ttl
        while self._sessions:
            sid, s = next(iter(self._sessions.items()))
            if s.last_used >= cutoff or self._locked(sid):
                break
            self._drop(sid)

    def _locked(self, sid: str) -> bool:
        lock = self._locks.get(sid)
        return lock is not None and lock.locked()

    def _drop(self, sid: str) -> None:
        self._sessions.pop(sid, None)
        lock = self._locks.get(sid)
        if lock is not None and not lock.locked():
            del self._locks[sid]

    async def add(self, session: Session) -> None:
        self._expire()
        session.last_used = time.time()
        self._sessions[session.id] = session
        while len(self._sessions) > self.settings.max_sessions:
            oldest = next(iter(self._sessions))
            self._drop(oldest)

    @asynccontextmanager
    async def _use(self, session_id: str) -> AsyncIterator[Session]:
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            self._expire()
            session = self._sessions.get(session_id)
            if session is None:
                self._locks.pop(session_id, None)
                raise SessionNotFound(session_id)
            try:
                yield session
            finally:
                session.last_used = time.time()
                if session_id in self._sessions:
                    self._sessions.move_to_end(session_id)

    def use(self, session_id: str) -> AbstractAsyncContextManager[Session]:
        return self._use(session_id)

    async def delete(self, session_id: str) -> bool:
        self._expire()
        if session_id not in self._sessions:
            return False
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            self._sessions.pop(session_id, None)
        self._locks.pop(session_id, None)
        return True

    async def count(self) -> int:
        return len(self._sessions)

    async def ping(self) -> bool:
        return True


def make_store(settings: Settings) -> SessionStore:
    if settings.store == "memory":
        return MemoryStore(settings)
    if settings.store.startswith(("redis://", "rediss://", "unix://")):
        from app.sessions.redis_store import RedisStore

        return RedisStore(settings)
    raise ValueError(f"BACKPROP_LAB_STORE must be 'memory' or a redis:// URL; got "
                     f"{settings.store!r}")
