"""What every session store shares: its errors, its protocol and the per-session asyncio
lock. Kept apart from the stores themselves so that the Redis store and the memory store (and
everything that only catches a store's errors) import this module, never each other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from app.sessions.model import Session


class SessionNotFound(KeyError):
    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.session_id = session_id


class SessionBusy(Exception):
    """The session's lock was not free within ``lock_timeout`` seconds (HTTP 503)."""

    def __init__(self, session_id: str, waited: float) -> None:
        super().__init__(f"session busy: another request held it for more than {waited:g} s")
        self.session_id = session_id
        self.waited = waited


class StoreUnavailable(Exception):
    """The session store cannot be reached, or a change could not be saved (HTTP 503)."""


class SaveUnknown(StoreUnavailable):
    """The store stopped answering while saving a change, and could not be asked afterwards
    whether the change was stored (HTTP 503: the reply must not claim either)."""

    def __init__(self) -> None:
        super().__init__(
            "the session store stopped answering while saving this change: it may or may not "
            "have been saved. Reload the session to see its state before trying again")


class StoreFull(Exception):
    """At the session cap every session was used within active_window: none is evicted, the
    new one is refused (HTTP 503 with Retry-After)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the server is at its session cap (max_sessions) and every session is "
                         "in active use (setting active_window); retry later")
        self.retry_after = max(1, int(retry_after + 0.999))


class MemoryBudgetFull(Exception):
    """A new session does not fit the server's memory budget even after evicting every idle
    session (all are in use): HTTP 503 with Retry-After."""

    def __init__(self, need: int, budget: int) -> None:
        super().__init__(
            f"the server's memory budget ({budget:,} bytes, setting memory_budget) is taken by "
            f"sessions in use; this one needs about {need:,}: retry in a few seconds, or ask "
            "for a smaller session")
        self.need, self.budget = need, budget


class SessionStore(Protocol):
    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def add(self, session: Session) -> None: ...

    def use(self, session_id: str, write: bool = True) -> AbstractAsyncContextManager[Session]:
        """The session under its lock; changes made inside are saved on a normal exit.
        ``write=False`` promises not to change it (GET, export, gradcheck): a store may then
        skip saving and the cross-process lock. Raises SessionNotFound, SessionBusy (the lock
        was not free within settings.lock_timeout) or StoreUnavailable."""
        ...

    async def saved(self, session_id: str, known: Any) -> tuple[Any, Session | None]:
        """The session's last saved state for readers that must never wait for its lock
        (watchers): ``(tag, a fresh copy)``, or ``(tag, None)`` when ``known`` is still the
        current tag. The copy is the caller's alone. SessionNotFound when it is gone."""
        ...

    async def delete(self, session_id: str) -> bool: ...

    async def count(self) -> int: ...

    async def ping(self) -> bool: ...



class LocalLocks:
    """One asyncio lock per session id within this process, dropped when nobody holds or
    waits for it (so the table never grows with sessions that were deleted or expired)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def locked(self, key: str) -> bool:
        entry = self._locks.get(key)
        return entry is not None and entry[0].locked()

    def clear(self) -> None:
        self._locks.clear()

    @asynccontextmanager
    async def hold(self, key: str, timeout: float | None) -> AsyncIterator[None]:
        """Hold ``key``'s lock; SessionBusy if it is not free within ``timeout`` seconds
        (None: wait as long as it takes)."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(timeout):
                    await lock.acquire()
            except TimeoutError:
                raise SessionBusy(key, timeout or 0.0) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            entry = self._locks.get(key)
            if entry is not None and entry[0] is lock:  # (clear() may have dropped it)
                if entry[1] <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, entry[1] - 1)
