"""Sessions in Redis: any number of workers (and hosts) share them, and they survive restarts.

One module: the Lua scripts and the Python that calls them are one protocol (keys, lock,
LRU, byte budget) and change together.

Keys, under the prefix ``backprop-lab:``:

- ``s:{id}``: a hash ``{d: Session.to_bytes(), v: version}`` that expires after
  ``session_ttl`` idle seconds (every use refreshes it);
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
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.config import Settings
from app.sessions.model import Session
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

# Redis's clock in microseconds (exact in a double until the year 2255).
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

# The memory budget: ``bytes`` (a hash id → estimated resident bytes) and ``total`` (their
# sum), kept in step with ``lru`` by every script below.
_BYTES = """
local function forget(id, bytes_key, total_key)
  local b = redis.call('HGET', bytes_key, id)
  if b then
    redis.call('DECRBY', total_key, b)
    redis.call('HDEL', bytes_key, id)
  end
end
local function expire_old(lru, bytes_key, total_key, cutoff)
  local old = redis.call('ZRANGEBYSCORE', lru, '-inf', cutoff)
  for i = 1, #old do forget(old[i], bytes_key, total_key) end
  redis.call('ZREMRANGEBYSCORE', lru, '-inf', cutoff)
end
-- the budget keys live as long as the last session touched (every key expires)
local function touch_budget(bytes_key, total_key, ttl_ms)
  redis.call('PEXPIRE', bytes_key, ttl_ms)
  redis.call('PEXPIRE', total_key, ttl_ms)
end
"""

# KEYS: s:{id}, lru, bytes, total. ARGV: data, version, ttl_ms, id, cap, key prefix, bytes,
# memory budget, active_window µs. Evicts the least recently used sessions that are neither in
# use (no lock key) nor active (used within active_window) while the cap or the budget is
# exceeded. Returns {1, evicted ids…}; {'full', µs to wait} when the cap is reached by active
# sessions; {0} when the session does not fit the budget even so (nothing written then).
ADD = _NOW + _BYTES + """
expire_old(KEYS[2], KEYS[3], KEYS[4], now - 1000 * tonumber(ARGV[3]))
local need, budget, cap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[5])
local window = tonumber(ARGV[9])
local function total() return tonumber(redis.call('GET', KEYS[4]) or '0') end
local function over_cap() return redis.call('ZCARD', KEYS[2]) + 1 > cap end
local function over() return over_cap() or total() + need > budget end
local evicted = {1}
if over() then
  local ids = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #ids, 2 do
    if not over() then break end
    local sid, used = ids[i], tonumber(ids[i + 1])
    if window > 0 and used + window > now then break end  -- LRU order: the rest are newer
    if sid ~= ARGV[4] and redis.call('EXISTS', ARGV[6] .. 'lock:' .. sid) == 0 then
      redis.call('DEL', ARGV[6] .. 's:' .. sid)
      redis.call('ZREM', KEYS[2], sid)
      forget(sid, KEYS[3], KEYS[4])
      evicted[#evicted + 1] = sid
    end
  end
  if over_cap() then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local wait = tonumber(oldest[2]) + window - now
    if wait < 1000000 then wait = 1000000 end
    return {'full', tostring(wait)}
  end
  if total() + need > budget then return {0} end
end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], now, ARGV[4])
forget(ARGV[4], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[3], ARGV[4], need)
redis.call('INCRBY', KEYS[4], need)
touch_budget(KEYS[3], KEYS[4], ARGV[3])
return evicted
"""

# KEYS: s:{id}, lru, lock:{id}, bytes, total. ARGV: ttl_ms, id, cached version, lock token (or
# ''), lock_ms. With a token, first takes the lock (0: it is taken). Touches the session and
# returns {version} when the cached version is current, {version, data} otherwise, nil if it
# is gone.
LOAD = _NOW + _BYTES + """
if ARGV[4] ~= '' and not redis.call('SET', KEYS[3], ARGV[4], 'NX', 'PX', ARGV[5]) then
  return 0
end
local v = redis.call('HGET', KEYS[1], 'v')
if not v then
  if ARGV[4] ~= '' then redis.call('DEL', KEYS[3]) end
  redis.call('ZREM', KEYS[2], ARGV[2])
  forget(ARGV[2], KEYS[4], KEYS[5])
  return false
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[2])
touch_budget(KEYS[4], KEYS[5], ARGV[1])
if v == ARGV[3] then return {v} end
return {v, redis.call('HGET', KEYS[1], 'd')}
"""

# KEYS: lock:{id}, s:{id}, lru, bytes, total, saved:{id}. ARGV: token, data, version, ttl_ms,
# id, bytes. -1: the lock is no longer ours (nothing written); 0: the session was deleted or
# evicted meanwhile (it stays deleted); 1: saved, and the lock's token goes on the session's
# receipts (the last RECEIPTS tokens that saved it), so a caller whose reply was lost can learn
# that it was saved (SETTLE).
SAVE = _NOW + _BYTES + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'd', ARGV[2], 'v', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], now, ARGV[5])
forget(ARGV[5], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[4], ARGV[5], ARGV[6])
redis.call('INCRBY', KEYS[5], ARGV[6])
touch_budget(KEYS[4], KEYS[5], ARGV[4])
redis.call('LPUSH', KEYS[6], ARGV[1])
redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[7]) - 1)
redis.call('PEXPIRE', KEYS[6], ARGV[4])
return 1
"""

# KEYS: saved:{id}, lock:{id}. ARGV: token. Settles a save whose reply was lost (a timeout, a
# dropped connection, a retried script that found its own lock gone): 1 if that token saved the
# session; else 0, and the lock is released if still ours, so a save still in flight can never
# apply later (it checks the token first): 0 means "not saved, and never will be".
SETTLE = """
for _, t in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if t == ARGV[1] then return 1 end
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 0
"""
RECEIPTS = 64  # tokens kept per session: more saves than this within one lost reply: unknown
# KEYS: s:{id}. ARGV: known version. What a watcher reads, without touching the session (it
# expires when its owner leaves it idle): {version} when ``known`` is current, {version, data}
# otherwise, nil if it is gone.
PEEK = """
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return false end
if v == ARGV[1] then return {v} end
return {v, redis.call('HGET', KEYS[1], 'd')}
"""

# KEYS: lock:{id}. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lru, bytes, total. ARGV: ttl_ms. Forgets ids whose keys expired, then counts.
COUNT = _NOW + _BYTES + """
expire_old(KEYS[1], KEYS[2], KEYS[3], now - 1000 * tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
"""

# KEYS: s:{id}, lru, bytes, total. ARGV: id. 1 if it existed.
DELETE = _BYTES + """
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
forget(ARGV[1], KEYS[3], KEYS[4])
return n
"""

# Sessions bigger than this are (de)serialised in a worker thread, off the event loop.
OFFLOAD_BYTES = 64 * 1024


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
        self._local = LocalLocks()
        self._redis: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}

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
        for name, text in (("add", ADD), ("load", LOAD), ("save", SAVE),
                           ("release", RELEASE), ("count", COUNT), ("delete", DELETE),
                           ("settle", SETTLE), ("peek", PEEK)):
            self._scripts[name] = r.register_script(text)

    async def close(self) -> None:
        self._cache.clear()
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
        return self._scripts[name](keys=keys, args=args)  # type: ignore[no-any-return]

    # --- the local cache -----------------------------------------------------------------
    def _cache_put(self, sid: str, version: bytes, session: Session, size: int) -> None:
        self._cache_drop(sid)
        if size > self.cache_bytes:
            return
        self._cache[sid] = _Cached(version, session, size)
        self._cached_bytes += size
        while self._cached_bytes > self.cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= old.size

    def _cache_drop(self, sid: str) -> None:
        old = self._cache.pop(sid, None)
        if old is not None:
            self._cached_bytes -= old.size

    # --- serialisation -------------------------------------------------------------------
    async def _dump(self, session: Session) -> bytes:
        session.last_used = time.time()
        t = session.trainer
        if t.n_samples * max(t.net.spec.layers) * 8 > OFFLOAD_BYTES:
            return await asyncio.to_thread(session.to_bytes)
        return session.to_bytes()

    async def _parse(self, raw: bytes) -> Session:
        if len(raw) > OFFLOAD_BYTES:
            return await asyncio.to_thread(Session.from_bytes, raw, self.settings)
        return Session.from_bytes(raw, self.settings)

    # --- the store -----------------------------------------------------------------------
    async def add(self, session: Session) -> None:
        raw = await self._dump(session)
        version = secrets.token_bytes(12)
        need = session.resident_bytes()
        reply = await self._run(self._script(
            "add", [PREFIX + "s:" + session.id, PREFIX + "lru", *BUDGET_KEYS],
            [raw, version, self.ttl_ms, session.id, self.settings.max_sessions, PREFIX,
             need, self.settings.memory_budget, int(self.settings.active_window * 1_000_000)]))
        if reply and reply[0] in (b"full", "full"):
            # (sessions evicted before the cap turned out full stay out of the cache: each use
            # checks the version in Redis.) The wait is in µs.
            raise StoreFull(float(reply[1]) / 1_000_000)
        if not reply or int(reply[0]) != 1:
            raise MemoryBudgetFull(need, self.settings.memory_budget)
        for sid in reply[1:]:
            self._cache_drop(sid.decode() if isinstance(sid, bytes) else str(sid))
        self._cache_put(session.id, version, session, len(raw))

    async def _load(self, sid: str, token: bytes = b"") -> Session | None:
        """The current session (from the cache when it is still current), touched; with a
        token, under the lock taken in the same round trip (None: the lock is taken)."""
        cached = self._cache.get(sid)
        reply = await self._run(self._script(
            "load", [PREFIX + "s:" + sid, PREFIX + "lru", PREFIX + "lock:" + sid, *BUDGET_KEYS],
            [self.ttl_ms, sid, cached.version if cached else b"", token, self.lock_ms]))
        if reply == 0:
            return None
        if reply is None:
            self._cache_drop(sid)
            raise SessionNotFound(sid)
        version = bytes(reply[0])
        if cached is not None and len(reply) == 1:
            self._cache.move_to_end(sid)
            return cached.session
        raw = bytes(reply[1])
        try:
            session = await self._parse(raw)
        except BaseException:
            if token:
                await self._release(sid, token)
            raise
        self._cache_put(sid, version, session, len(raw))
        return session

    async def _lock_and_load(self, sid: str, deadline: float) -> tuple[bytes, Session]:
        """The session under the cross-process lock (and the lock's token); polls with a short
        back-off while another process holds it, until the deadline."""
        token = secrets.token_bytes(16)
        pause = 0.001
        while True:
            session = await self._load(sid, token)
            if session is not None:
                return token, session
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
                session = await self._load(sid)
                assert session is not None
                yield session
                return
            token, session = await self._lock_and_load(sid, deadline)
            try:
                yield session
            except BaseException:
                # The operation failed: forget the half-changed object; Redis keeps the state
                # from before it.
                self._cache_drop(sid)
                await self._release(sid, token)
                raise
            await self._save(sid, token, session)

    async def _release(self, sid: str, token: bytes) -> None:
        # On failure the lock expires by itself after lock_timeout.
        with contextlib.suppress(RedisError, OSError, StoreUnavailable):
            await self._script("release", [PREFIX + "lock:" + sid], [token])

    async def _save(self, sid: str, token: bytes, session: Session) -> None:
        """Save under our lock; returns only if the change was saved. When the reply is lost
        (Redis paused or unreachable, or the client's retry found the lock already released
        by the first attempt), the outcome is settled before answering: a reply never says
        "discarded" for a change that was stored (issue 23), nor "saved" for one that was not."""
        try:
            raw = await self._dump(session)
        except BaseException:
            self._cache_drop(sid)
            await self._release(sid, token)
            raise
        version = secrets.token_bytes(12)
        try:
            saved = await self._run(self._script(
                "save", [PREFIX + "lock:" + sid, PREFIX + "s:" + sid, PREFIX + "lru",
                         *BUDGET_KEYS, PREFIX + "saved:" + sid],
                [token, raw, version, self.ttl_ms, sid, session.resident_bytes(), RECEIPTS]))
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
            self._cache_put(sid, version, session, len(raw))
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
        # (never the cache's, which a writer in this process may be changing).
        reply = await self._run(self._script("peek", [PREFIX + "s:" + sid], [known or b""]))
        if reply is None:
            raise SessionNotFound(sid)
        version = bytes(reply[0])
        if len(reply) == 1:
            return version, None
        raw = bytes(reply[1])
        return version, await asyncio.to_thread(Session.from_bytes, raw, self.settings)

    async def delete(self, session_id: str) -> bool:
        self._cache_drop(session_id)
        deleted = await self._run(self._script(
            "delete", [PREFIX + "s:" + session_id, PREFIX + "lru", *BUDGET_KEYS], [session_id]))
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
