"""One noisy client cannot break the class: session creation is rate-limited per client
address (``create_rate_limit`` a minute, far above a class behind one NAT address; 0 turns it
off) in a sliding window. With the memory store the window is
counted in this process; with Redis, in Redis, so every worker shares it."""

from __future__ import annotations

import math
import secrets
import time
from collections import deque

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.config import Settings
from app.sessions.store import SessionStore, StoreUnavailable

PREFIX = "backprop-lab:"
WINDOW = 60.0  # seconds: the limit is per minute
MAX_CLIENTS = 100_000  # addresses remembered at once (the oldest windows are forgotten first)


class RateLimited(Exception):
    """Too many sessions created by one client in the last minute (HTTP 429)."""

    def __init__(self, limit: int, retry_after: float) -> None:
        super().__init__(f"too many new sessions from this address: the limit is {limit} a "
                         "minute (setting create_rate_limit)")
        self.retry_after = max(1, math.ceil(retry_after))


class CreationLimiter:
    """A sliding window per client address, in this process."""

    def __init__(self, settings: Settings) -> None:
        self.limit = settings.create_rate_limit
        self._seen: dict[str, deque[float]] = {}

    async def check(self, client: str) -> None:
        if not self.limit:
            return
        now = time.monotonic()
        times = self._seen.pop(client, None) or deque()
        while times and times[0] <= now - WINDOW:
            times.popleft()
        self._seen[client] = times  # re-inserted: the dict stays ordered by last use
        if len(times) >= self.limit:
            raise RateLimited(self.limit, times[0] + WINDOW - now)
        times.append(now)
        while len(self._seen) > MAX_CLIENTS:
            del self._seen[next(iter(self._seen))]


# KEYS: the client's sorted set (member: a unique id, score: µs of Redis's clock). ARGV: limit,
# window µs, a unique member. A sliding window, atomic across workers: drops what left the
# window, then admits (1) or refuses (0) with the µs until the oldest one leaves it.
SLIDING = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tostring(tonumber(oldest[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return {1, '0'}
"""


class RedisCreationLimiter(CreationLimiter):
    """The same sliding window per client address, kept in Redis (one sorted set of creation
    times per address, trimmed and checked in one script), so every worker shares it. (A
    fixed window per minute let 2 × limit creations through across a minute boundary.)"""

    def __init__(self, settings: Settings, redis: aioredis.Redis) -> None:
        super().__init__(settings)
        self.redis = redis
        self._script = redis.register_script(SLIDING)

    async def check(self, client: str) -> None:
        if not self.limit:
            return
        try:
            allowed, wait = await self._script(
                keys=[f"{PREFIX}rate:{client}"],
                args=[self.limit, int(WINDOW * 1_000_000), secrets.token_hex(8)])
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"session store error: {type(e).__name__}") from None
        if not int(allowed):
            raise RateLimited(self.limit, float(wait) / 1_000_000)


def make_limiter(store: SessionStore, settings: Settings) -> CreationLimiter:
    if store.name == "redis":
        return RedisCreationLimiter(settings, store.redis)  # type: ignore[attr-defined]
    return CreationLimiter(settings)
