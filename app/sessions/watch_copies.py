"""What watchers read: the last saved state of a watched session, as a read-only copy shared by
every watcher on this worker (issue #23: watchers looping on a big session held the session's
lock while their replies were rendered, and the teacher's step waited seconds).

A copy is made once per saved version (``store.saved``: from Redis without any lock; in the
memory store by serialising under the lock for a few milliseconds, once per version, however
many watchers ask), then every watcher renders from it outside the lock. Copies are never
changed. Kept per worker, least recently used first out, within ``watch_cache_bytes`` (the
copies' estimated resident bytes, with the rendered frames of app/web/routes/watch.py).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from app.sessions.model import Session
from app.sessions.store import SessionStore

MAX_COPIES = 64  # sessions whose copy is kept, whatever their size


class WatchCopies:
    def __init__(self, store: SessionStore, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._copies: OrderedDict[str, tuple[Any, Session, int]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Session]] = {}
        self.nbytes = 0

    async def get(self, sid: str) -> Session:
        """The last saved state of ``sid`` (SessionNotFound when it is gone). Concurrent
        callers share one read."""
        pending = self._inflight.get(sid)
        if pending is None:
            pending = asyncio.ensure_future(self._read(sid))
            self._inflight[sid] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(sid, None))
        return await asyncio.shield(pending)

    async def _read(self, sid: str) -> Session:
        held = self._copies.get(sid)
        tag, fresh = await self.store.saved(sid, held[0] if held else None)
        if fresh is None:
            assert held is not None
            self._copies.move_to_end(sid)
            return held[1]
        self.forget(sid)
        size = fresh.resident_bytes()
        if size <= self.max_bytes:
            self._copies[sid] = (tag, fresh, size)
            self.nbytes += size
            while self.nbytes > self.max_bytes or len(self._copies) > MAX_COPIES:
                old = next(iter(self._copies))
                self.forget(old)
        return fresh

    def forget(self, sid: str) -> None:
        old = self._copies.pop(sid, None)
        if old is not None:
            self.nbytes -= old[2]
