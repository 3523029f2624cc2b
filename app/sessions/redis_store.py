"""Sessions in Redis: any number of workers (and hosts) share them, and they survive restarts.

The Lua scripts (app/sessions/redis_scripts.py) and the Python here are one protocol (keys,
lock, LRU, byte budget) and change together.

Keys, under the prefix ``backprop-lab:``:

- ``s:{id}``: a hash ``{d: the session's core, v: version, g: its history's generation}``
  that expires after ``session_ttl`` idle seconds (every use refreshes it); the core is the
  session's snapshot without its loss history (app/sessions/snapshot.py);
- ``h:{id}``: the loss history, fixed-width binary rows (same TTL). A save that only added
  epochs APPENDs their rows, so a tick costs the same at epoch 100,000 as at epoch 100; one
  that changed earlier rows (a compaction, an undo, a reset) rewrites them under a new
  generation. A worker that holds an older copy of the session reads only the rows it lacks
  (GETRANGE from the rows it has, when its generation is still the stored one);
- ``lru``: a sorted set, id → time of last use (µs, Redis's clock); when a new session would
  exceed ``max_sessions`` the least recently used are deleted (and then answer 404);
- ``saved:{id}``: the receipts, the lock tokens of the session's last saves (a list, same TTL),
  so that a save whose reply was lost is settled, not guessed (``SETTLE``);
- ``lock:{id}``: the session's lock, a random token set with ``NX PX lock_timeout`` and
  released by compare-and-delete, so it holds across processes and hosts and frees itself if
  its holder dies. A request waits for it at most ``lock_timeout`` seconds (then SessionBusy,
  HTTP 503). Saving the session and releasing its lock are one atomic script that first checks
  the token: a holder whose lock expired never overwrites a newer state.

Each worker keeps a small cache of deserialised sessions. An entry is used only while Redis
still holds the version it was loaded or saved as (checked atomically with every use), so a
session that another worker changed is always read afresh: sessions move between workers
bit for bit. Within a process, requests on one session also queue on an asyncio lock, so only
one of them at a time polls Redis for the shared lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.config import Settings
from app.sessions import redis_history
from app.sessions.model import Session
from app.sessions.redis_history import Mark, Written
from app.sessions.redis_scripts import RECEIPTS, SCRIPTS
from app.sessions.store_base import (
    LocalLocks,
    MemoryBudgetFull,
    SaveUnknown,
    SessionBusy,
    SessionNotFound,
    StoreFull,
    StoreUnavailable,
)

PREFIX = "backprop-lab:"
BUDGET_KEYS = [PREFIX + "bytes", PREFIX + "total"]
T = TypeVar("T")

def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


@dataclass
class _Cached:
    version: bytes
    session: Session
    size: int
    mark: Mark | None  # the history rows Redis holds for it


PEEKED = 16  # watchers' copies remembered, so that a new version reads only the new rows


class RedisStore:
    """The SessionStore on a Redis server (``BACKPROP_LAB_STORE=redis://host:port/db``)."""

    name = "redis"

    def __init__(self, settings: Settings, cache_bytes: int = 64 << 20) -> None:
        if settings.lock_timeout <= settings.train_time_budget + 1:
            raise ValueError(
                f"lock_timeout ({settings.lock_timeout:g} s) must exceed train_time_budget "
                f"({settings.train_time_budget:g} s) by more than a second: a lock must outlive "
                "the longest call it guards")
        self.settings = settings
        self.url = settings.store
        self.ttl_ms = max(1, math.ceil(settings.session_ttl * 1000))
        self.lock_ms = math.ceil(settings.lock_timeout * 1000)
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cached_bytes = 0
        # The last copy saved() gave out per session (never changed: its rows can seed the
        # next one).
        self._peeked: OrderedDict[str, tuple[bytes, Mark, Session]] = OrderedDict()
        self._local = LocalLocks()
        self._redis: aioredis.Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}

    # --- lifecycle -----------------------------------------------------------------------
    async def open(self) -> None:
        r = aioredis.Redis.from_url(
            # Every command is small: a Redis that does not answer in 5 s is reported (503).
            # A pooled connection that went stale (Redis restarted) fails on first use: retry
            # once on a fresh one, so a restart costs no client request once Redis is back.
            self.url, socket_connect_timeout=5, socket_timeout=5, health_check_interval=5,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            client_name=f"backprop-lab:{os.getpid()}",
        )
        try:
            await r.ping()
        except (RedisError, OSError) as e:
            await r.aclose()
            raise StoreUnavailable(f"cannot reach the Redis session store at "
                                   f"{redact(self.url)}: {e}") from None
        self._redis = r
        for name, text in SCRIPTS.items():
            self._scripts[name] = r.register_script(text)

    async def close(self) -> None:
        self._cache.clear()
        self._peeked.clear()
        self._cached_bytes = 0
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise StoreUnavailable("the Redis session store is not open")
        return self._redis

    async def _run(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"session store error: {type(e).__name__}") from None

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        if not self._scripts:
            raise StoreUnavailable("the Redis session store is not open")
        return self._scripts[name](keys=keys, args=args)

    # --- the local cache -----------------------------------------------------------------
    def _cache_put(self, sid: str, version: bytes, session: Session, size: int,
                   mark: Mark | None) -> None:
        self._cache_drop(sid)
        if size > self.cache_bytes:
            return
        self._cache[sid] = _Cached(version, session, size, mark)
        self._cached_bytes += size
        while self._cached_bytes > self.cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= old.size

    def _cache_drop(self, sid: str) -> None:
        old = self._cache.pop(sid, None)
        if old is not None:
            self._cached_bytes -= old.size

    # --- serialisation: app/sessions/redis_history.py -------------------------------------
    async def _dump(self, session: Session, mark: Mark | None) -> Written:
        session.last_used = time.time()
        return await redis_history.write_off_loop(session, mark)

    async def _parse(self, reply: list[Any], base: tuple[Mark, Session] | None
                     ) -> tuple[Session, Mark | None]:
        # The stale cached copy is dropped now: the new one takes its history's lists.
        return await redis_history.read_off_loop(reply, base, self.settings, take=True)

    @staticmethod
    def _known(base: tuple[Mark, Session] | None) -> list[Any]:
        """The generation and row bytes a reader already holds (ARGV of LOAD and PEEK)."""
        return [base[0].g, base[0].offset()] if base else [b"", 0]

    # --- the store -----------------------------------------------------------------------
    async def add(self, session: Session) -> None:
        w = await self._dump(session, None)
        version = secrets.token_bytes(12)
        need = session.resident_bytes()
        reply = await self._run(self._script(
            "add", [PREFIX + "s:" + session.id, PREFIX + "lru", *BUDGET_KEYS,
                    PREFIX + "h:" + session.id],
            [w.core, version, self.ttl_ms, session.id, self.settings.max_sessions, PREFIX,
             need, self.settings.memory_budget, int(self.settings.active_window * 1_000_000),
             w.rows, w.mark.g]))
        if reply and reply[0] in (b"full", "full"):
            # (sessions evicted before the cap turned out full stay out of the cache: each use
            # checks the version in Redis.) The wait is in µs.
            raise StoreFull(float(reply[1]) / 1_000_000)
        if not reply or int(reply[0]) != 1:
            raise MemoryBudgetFull(need, self.settings.memory_budget)
        for sid in reply[1:]:
            self._cache_drop(sid.decode() if isinstance(sid, bytes) else str(sid))
        self._cache_put(session.id, version, session, len(w.core) + len(w.rows), w.mark)

    async def _load(self, sid: str, token: bytes = b"") -> tuple[Session, Mark | None] | None:
        """The current session (from the cache when it is still current), touched, with the
        rows Redis holds for it; with a token, under the lock taken in the same round trip
        (None: the lock is taken). A stale cached copy seeds the history: only newer rows
        are read."""
        cached = self._cache.get(sid)
        base = (cached.mark, cached.session) if cached and cached.mark else None
        reply = await self._run(self._script(
            "load", [PREFIX + "s:" + sid, PREFIX + "lru", PREFIX + "lock:" + sid, *BUDGET_KEYS,
                     PREFIX + "h:" + sid],
            [self.ttl_ms, sid, cached.version if cached else b"", token, self.lock_ms,
             *self._known(base)]))
        if reply == 0:
            return None
        if reply is None:
            self._cache_drop(sid)
            raise SessionNotFound(sid)
        version = bytes(reply[0])
        if cached is not None and len(reply) == 1:
            self._cache.move_to_end(sid)
            return cached.session, cached.mark
        try:
            session, mark = await self._parse(reply, base)
        except BaseException:
            if token:
                await self._release(sid, token)
            raise
        self._cache_put(sid, version, session, len(reply[1]) + len(reply[3]), mark)
        return session, mark

    async def _lock_and_load(self, sid: str, deadline: float
                             ) -> tuple[bytes, Session, Mark | None]:
        """The session under the cross-process lock (and the lock's token); polls with a short
        back-off while another process holds it, until the deadline."""
        token = secrets.token_bytes(16)
        pause = 0.001
        while True:
            loaded = await self._load(sid, token)
            if loaded is not None:
                return token, *loaded
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionBusy(sid, self.settings.lock_timeout)
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)

    @asynccontextmanager
    async def _use(self, sid: str, write: bool) -> AsyncIterator[Session]:
        wait = self.settings.lock_timeout
        deadline = time.monotonic() + wait
        async with self._local.hold(sid, wait):
            if not write:
                # One atomic read of a consistent version: no cross-process lock needed.
                loaded = await self._load(sid)
                assert loaded is not None
                yield loaded[0]
                return
            token, session, mark = await self._lock_and_load(sid, deadline)
            try:
                yield session
            except BaseException:
                # The operation failed: forget the half-changed object; Redis keeps the state
                # from before it.
                self._cache_drop(sid)
                await self._release(sid, token)
                raise
            await self._save(sid, token, session, mark)

    async def _release(self, sid: str, token: bytes) -> None:
        # On failure the lock expires by itself after lock_timeout.
        with contextlib.suppress(RedisError, OSError, StoreUnavailable):
            await self._script("release", [PREFIX + "lock:" + sid], [token])

    async def _save(self, sid: str, token: bytes, session: Session, mark: Mark | None) -> None:
        """Save under our lock; returns only if the change was saved. When the reply is lost
        (Redis paused or unreachable, or the client's retry found the lock already released
        by the first attempt), the outcome is settled before answering: a reply never says
        "discarded" for a change that was stored (issue 23), nor "saved" for one that was not."""
        try:
            w = await self._dump(session, mark)
        except BaseException:
            self._cache_drop(sid)
            await self._release(sid, token)
            raise
        version = secrets.token_bytes(12)
        try:
            saved = await self._write(sid, token, session, w, version)
            if saved == -2:  # Redis holds other rows than we believed: rewrite them all
                w = await self._dump(session, None)
                saved = await self._write(sid, token, session, w, version)
        except StoreUnavailable:
            self._cache_drop(sid)  # saved or not, the next use reads Redis afresh
            if await self._settle(sid, token):
                return
            raise StoreUnavailable("the session store did not answer while saving; the change "
                                   "was not saved (the session is as it was): try again") \
                from None
        except BaseException:  # cancelled: whether it was saved is unknown
            self._cache_drop(sid)
            await self._release(sid, token)
            raise
        if saved == 1:
            self._cache_put(sid, version, session, len(w.core) + w.mark.offset(), w.mark)
            return
        self._cache_drop(sid)
        if saved == -1:
            # Our lock is gone: expired, or released by an earlier attempt of this same save
            # whose reply was lost (the client retries once on a timeout).
            if await self._settle(sid, token):
                return
            raise StoreUnavailable(
                f"the session's lock expired after lock_timeout ({self.settings.lock_timeout:g}"
                " s) before the change was saved; the change was discarded")
        # 0: deleted or evicted while in use; it stays deleted (the next request gets 404).

    def _write(self, sid: str, token: bytes, session: Session, w: Written, version: bytes
               ) -> Awaitable[Any]:
        return self._run(self._script(
            "save", [PREFIX + "lock:" + sid, PREFIX + "s:" + sid, PREFIX + "lru", *BUDGET_KEYS,
                     PREFIX + "saved:" + sid, PREFIX + "h:" + sid],
            [token, w.core, version, self.ttl_ms, sid, session.resident_bytes(), RECEIPTS,
             w.rows, w.mark.g, "" if w.after is None else w.after]))

    async def _settle(self, sid: str, token: bytes) -> bool:
        """Whether our save (by its lock token) was stored; SaveUnknown if Redis cannot say."""
        try:
            return bool(await self._run(self._script(
                "settle", [PREFIX + "saved:" + sid, PREFIX + "lock:" + sid], [token])))
        except StoreUnavailable:
            raise SaveUnknown() from None

    def use(self, session_id: str, write: bool = True) -> AbstractAsyncContextManager[Session]:
        return self._use(session_id, write)

    async def saved(self, sid: str, known: Any) -> tuple[Any, Session | None]:
        # One atomic read of the last saved version: no lock, local or shared; a new object
        # (never the cache's, which a writer in this process may be changing). The last copy
        # given out (never changed) seeds its history: only newer rows are read.
        last = self._peeked.get(sid)
        base = (last[1], last[2]) if last else None
        reply = await self._run(self._script(
            "peek", [PREFIX + "s:" + sid, PREFIX + "h:" + sid],
            [known or b"", *self._known(base)]))
        if reply is None:
            self._peeked.pop(sid, None)
            raise SessionNotFound(sid)
        version = bytes(reply[0])
        if len(reply) == 1:
            return version, None
        session, mark = await redis_history.read_off_loop(reply, base, self.settings, True)
        self._peeked.pop(sid, None)
        if mark is not None:
            self._peeked[sid] = (version, mark, session)
            while len(self._peeked) > PEEKED:
                self._peeked.popitem(last=False)
        return version, session

    async def delete(self, session_id: str) -> bool:
        self._cache_drop(session_id)
        self._peeked.pop(session_id, None)
        deleted = await self._run(self._script(
            "delete", [PREFIX + "s:" + session_id, PREFIX + "lru", *BUDGET_KEYS,
                       PREFIX + "h:" + session_id], [session_id]))
        return bool(deleted)

    async def count(self) -> int:
        return int(await self._run(self._script("count", [PREFIX + "lru", *BUDGET_KEYS],
                                                [self.ttl_ms])))

    async def total_bytes(self) -> int:
        """The estimated resident bytes of all sessions (the memory budget's sum)."""
        return int(await self._run(self.redis.get(BUDGET_KEYS[1])) or 0)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError, StoreUnavailable):
            return False
