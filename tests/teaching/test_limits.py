"""One noisy client cannot break the class: session creation is throttled per client (429 +
Retry-After), and at the cap a session in active use is never evicted (503 + Retry-After)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.sessions.limits import CreationLimiter, RateLimited
from tests.teaching.helpers import S


def test_a_creation_flood_is_throttled(make_client: Callable[..., TestClient],
                                       store_url: str) -> None:
    c = make_client(store=store_url, create_rate_limit=5, active_window=600)
    made = [c.post(S, json={"preset": "xor-bias"}) for _ in range(5)]
    assert [r.status_code for r in made] == [201] * 5
    for attempt in (lambda: c.post(S, json={}), lambda: c.get("/new", follow_redirects=False),
                    lambda: c.post(f"{S}/import", json=c.get(
                        f"{S}/{made[0].json()['id']}/export").json())):
        r = attempt()
        assert r.status_code == 429, r.text
        # JSON for the API names the setting; the page says it in the reader's language.
        assert ("create_rate_limit" in r.text if r.headers["content-type"].startswith(
            "application/json") else "Too many new sessions from this address" in r.text)
        assert 1 <= int(r.headers["retry-after"]) <= 60
    # The sessions already made keep working.
    assert c.post(f"{S}/{made[0].json()['id']}/step").status_code == 200


def test_the_window_is_per_client_and_slides() -> None:
    limiter = CreationLimiter(Settings(create_rate_limit=2))

    async def run() -> None:
        await limiter.check("10.0.0.1")
        await limiter.check("10.0.0.1")
        with pytest.raises(RateLimited) as e:
            await limiter.check("10.0.0.1")
        assert 1 <= e.value.retry_after <= 60
        await limiter.check("10.0.0.2")  # another client is not affected
        # A minute later the first client may create again.
        times = limiter._seen["10.0.0.1"]
        for i in range(len(times)):
            times[i] -= 61
        await limiter.check("10.0.0.1")

    asyncio.run(run())


def test_zero_turns_the_limit_off(make_client: Callable[..., TestClient]) -> None:
    c = make_client(create_rate_limit=0)
    assert all(c.post(S, json={}).status_code == 201 for _ in range(40))


def age(client: TestClient, store_url: str, sid: str, seconds: float) -> None:
    """Make a session look idle for ``seconds`` more (no sleeping in tests)."""
    if store_url == "memory":
        client.app.state.store._sessions[sid].last_used -= seconds  # type: ignore[attr-defined]
        return
    import redis

    with redis.Redis.from_url(store_url) as r:
        r.zincrby("backprop-lab:lru", -seconds * 1_000_000, sid)


def test_an_active_session_survives_a_flood_at_the_cap(make_client: Callable[..., TestClient],
                                                       store_url: str) -> None:
    c = make_client(store=store_url, max_sessions=5, active_window=600, create_rate_limit=0)
    teacher = c.post(S, json={"preset": "xor-bias"}).json()["id"]
    idle = [c.post(S, json={}).json()["id"] for _ in range(4)]
    for sid in idle:
        age(c, store_url, sid, 601)  # out of the active window; the teacher keeps working
    assert c.post(f"{S}/{teacher}/step").status_code == 200
    flood = [c.post(S, json={}) for _ in range(12)]
    codes = [r.status_code for r in flood]
    # The 4 idle sessions make room for 4 new ones; then every session at the cap is active.
    assert codes[:4] == [201] * 4 and codes[4:] == [503] * 8, codes
    assert all(500 <= int(r.headers["retry-after"]) <= 600 for r in flood[4:])
    assert "active_window" in flood[4].json()["detail"]
    assert c.post(f"{S}/{teacher}/step").status_code == 200  # never evicted
    assert all(c.get(f"{S}/{sid}").status_code == 404 for sid in idle)


@pytest.mark.redis
def test_the_redis_window_slides_across_a_minute_boundary(redis_url: str) -> None:
    """The fixed window let 2 × limit creations through in seconds across a minute boundary
    (issue #23: 60 in 3.5 s with a limit of 30). Sliding: never more than the limit in any 60 s,
    and the refusal says when the oldest one leaves the window."""
    import redis.asyncio as aioredis

    from app.sessions.limits import RedisCreationLimiter

    async def run() -> None:
        r = aioredis.Redis.from_url(redis_url)
        try:
            limiter = RedisCreationLimiter(Settings(create_rate_limit=3), r)
            for _ in range(3):
                await limiter.check("10.0.0.9")
            with pytest.raises(RateLimited) as e:
                await limiter.check("10.0.0.9")
            assert 59 <= e.value.retry_after <= 60
            await limiter.check("10.0.0.10")  # another address
            # Age the three entries by 59 s (the window has not passed): still refused, as a
            # new minute began in between for a fixed window.
            key = "backprop-lab:rate:10.0.0.9"
            for member, score in await r.zrange(key, 0, -1, withscores=True):
                await r.zadd(key, {member: score - 59_000_000})
            with pytest.raises(RateLimited) as e:
                await limiter.check("10.0.0.9")
            assert e.value.retry_after == 1
            # Past 60 s they leave the window, one by one.
            for member, score in await r.zrange(key, 0, -1, withscores=True):
                await r.zadd(key, {member: score - 2_000_000})
            for _ in range(3):
                await limiter.check("10.0.0.9")
            with pytest.raises(RateLimited):
                await limiter.check("10.0.0.9")
        finally:
            await r.aclose()

    asyncio.run(run())
