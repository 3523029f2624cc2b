"""One noisy client cannot break the class: session creation is rate-limited per client
address (``create_rate_limit`` a minute; 0 turns it off). With the memory store the window is
counted in this process; with Redis, in Redis, so every worker shares it."""

from __future__ import annotations

import math
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


class RedisCreationLimiter(CreationLimiter):
    """A fixed one-minute window per client address, counted in Redis (INCR + EXPIRE)."""

    def __init__(self, settings: Settings, redis: aioredis.Redis) -> None:
        super().__init__(settings)
        self.redis = redis

    async def check(self, client: str) -> None:
        if not self.limit:
            return
        now = time.time()
        window = int(now // WINDOW)
        key = f"{PREFIX}rate:{client}:{window}"
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, int(WINDOW) + 1)
            count, _ = await pipe.execute()
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"session store error: {type(e).__name__}") from None
        if int(count) > self.limit:
            raise RateLimited(self.limit, (window + 1) * WINDOW - now)


def make_limiter(store: SessionStore, settings: Settings) -> CreationLimiter:
    if store.name == "redis":
        return RedisCreationLimiter(settings, store.redis)  # type: ignore[attr-defined]
    return CreationLimiter(settings)
