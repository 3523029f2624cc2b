"""What only the Redis store does: several store instances (as several worker processes would
have) sharing sessions bit for bit under one cross-process lock, its version-checked cache,
lock expiry, restart survival, and failing clearly when Redis is away."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
import redis

from app.config import Settings
from app.sessions import service
from app.sessions.model import Session
from app.sessions.redis_store import PREFIX, RedisStore, redact
from app.sessions.state import session_state
from app.sessions.store import StoreUnavailable, make_store
from tests.redis_fixture import RedisServer, free_port
from tests.sessions.conftest import new_session, opened

pytestmark = pytest.mark.redis


def state(s: Session) -> dict[str, Any]:
    out = session_state(s)
    out.pop("id")
    return out


def test_make_store_selects_redis_and_refuses_unknown_stores(redis_url: str) -> None:
    assert isinstance(make_store(Settings(store=redis_url)), RedisStore)
    assert make_store(Settings(store=redis_url)).name == "redis"
    with pytest.raises(ValueError, match="BACKPROP_LAB_STORE"):
        make_store(Settings(store="postgres://x"))


def test_lock_timeout_must_outlive_the_train_budget(redis_url: str) -> None:
    with pytest.raises(ValueError, match="lock_timeout"):
        RedisStore(Settings(store=redis_url, lock_timeout=2.5, train_time_budget=2.0))


def test_redact_hides_the_password() -> None:
    assert redact("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact("redis://host:6379/0") == "redis://host:6379/0"


def test_two_workers_continue_a_session_bit_for_bit(redis_url: str) -> None:
    """Alternate every operation between two store instances; a session that never left
    memory, driven the same way, must match at every step (state and bytes)."""
    settings = Settings(store=redis_url)
    reference = new_session(settings, preset="spiral")
    ops: list[Any] = [service.step] * 9 + [lambda s: service.train(s, 3, settings)]
    ops += [lambda s: service.patch(s, {"learning_rate": 0.05}, settings)] + [service.step] * 5

    async def scenario() -> None:
        async with opened(settings) as a, opened(settings) as b:
            sid = reference.id
            await a.add(Session.from_bytes(reference.to_bytes(), settings))
            for i, op in enumerate(ops):
                op(reference)
                async with (a if i % 2 else b).use(sid) as s:
                    op(s)
                # Each worker may hold a cached copy: it must notice the other's change.
                for store in (a, b):
                    async with store.use(sid, write=False) as s:
                        assert state(s) == state(reference), f"after op {i}"
                        for w, w_ref in zip(s.trainer.net.W, reference.trainer.net.W,
                                            strict=True):
                            assert np.array_equal(w, w_ref)
                        s.last_used = reference.last_used
                        assert s.to_bytes() == reference.to_bytes()

    asyncio.run(scenario())


def test_the_lock_holds_across_store_instances(redis_url: str) -> None:
    settings = Settings(store=redis_url)

    async def scenario() -> None:
        async with opened(settings) as a, opened(settings) as b:
            s = new_session(settings)
            await a.add(s)
            inside = most_inside = 0

            async def bump(store: Any) -> None:
                nonlocal inside, most_inside
                async with store.use(s.id) as got:
                    inside += 1
                    most_inside = max(most_inside, inside)
                    n = got.trainer.iteration
                    await asyncio.sleep(0.002)
                    got.trainer.iteration = n + 1
                    inside -= 1

            await asyncio.gather(*(bump(a if i % 2 else b) for i in range(30)))
            assert most_inside == 1
            async with b.use(s.id, write=False) as got:
                assert got.trainer.iteration == 30

    asyncio.run(scenario())


def test_reads_do_not_wait_for_a_writer_and_see_the_last_saved_state(redis_url: str) -> None:
    settings = Settings(store=redis_url)

    async def scenario() -> None:
        async with opened(settings) as a, opened(settings) as b:
            s = new_session(settings, preset="seed-xor")
            await a.add(s)
            held, release = asyncio.Event(), asyncio.Event()
            order: list[str] = []

            async def write() -> None:
                async with a.use(s.id) as got:
                    service.train(got, 7, settings)
                    held.set()
                    await release.wait()
                    order.append("write released")

            task = asyncio.create_task(write())
            await held.wait()
            async with b.use(s.id, write=False) as got:
                assert got.trainer.epoch == 0  # the write is not saved yet
                order.append("read done")
            release.set()
            await task
            async with b.use(s.id, write=False) as got:
                assert got.trainer.epoch == 7
            assert order == ["read done", "write released"]

    asyncio.run(scenario())


def test_a_failed_operation_leaves_the_stored_session_unchanged(redis_url: str) -> None:
    settings = Settings(store=redis_url)

    async def scenario() -> None:
        async with opened(settings) as store:
            s = new_session(settings, preset="seed-xor")
            await store.add(s)
            with pytest.raises(RuntimeError):
                async with store.use(s.id) as got:
                    service.train(got, 4, settings)
                    raise RuntimeError("half-way")
            async with store.use(s.id, write=False) as got:
                assert got.trainer.epoch == 0

    asyncio.run(scenario())


def test_an_expired_lock_never_overwrites_a_newer_state(redis_url: str) -> None:
    slow_settings = Settings(store=redis_url, lock_timeout=1.2, train_time_budget=0.1)
    settings = Settings(store=redis_url)

    async def scenario() -> None:
        async with opened(slow_settings) as slow, opened(settings) as fast:
            s = new_session(settings, preset="seed-xor")
            await fast.add(s)

            async def overrun() -> None:
                async with slow.use(s.id) as got:
                    service.train(got, 100, settings)
                    await asyncio.sleep(1.6)  # longer than its lock_timeout

            task = asyncio.create_task(overrun())
            await asyncio.sleep(0.1)
            async with fast.use(s.id) as got:  # gets the lock once the slow one's expires
                service.train(got, 3, settings)
            with pytest.raises(StoreUnavailable, match="lock expired"):
                await task
            async with fast.use(s.id, write=False) as got:
                assert got.trainer.epoch == 3

    asyncio.run(scenario())


def test_a_session_deleted_while_in_use_stays_deleted(redis_url: str) -> None:
    settings = Settings(store=redis_url)

    async def scenario() -> None:
        async with opened(settings) as a, opened(settings) as b:
            s = new_session(settings)
            await a.add(s)
            async with a.use(s.id) as got:
                assert await b.delete(s.id) is True
                service.step(got)
            assert await a.count() == 0
            for store in (a, b):
                with pytest.raises(KeyError):
                    async with store.use(s.id, write=False):
                        pass

    asyncio.run(scenario())


def test_sessions_survive_a_restart_and_every_key_expires(redis_url: str) -> None:
    settings = Settings(store=redis_url, session_ttl=60)

    async def first_run() -> tuple[str, bytes]:
        async with opened(settings) as store:
            s = new_session(settings, preset="circle")
            await store.add(s)
            async with store.use(s.id) as got:
                service.train(got, 2, settings)
                service.step(got)
                expected = got
            return s.id, expected.to_bytes()

    async def second_run(sid: str) -> bytes:
        async with opened(settings) as store, store.use(sid, write=False) as got:
            return got.to_bytes()

    sid, before = asyncio.run(first_run())
    assert asyncio.run(second_run(sid)) == before
    with redis.Redis.from_url(redis_url) as r:
        for key in (PREFIX + "s:" + sid, PREFIX + "h:" + sid):  # the core, the history rows
            assert 0 < r.pttl(key) <= 60_000
        assert r.keys(PREFIX + "lock:*") == []  # no lock left behind
        keys = {k.decode() for k in r.keys("*")}
        assert keys == {PREFIX + "s:" + sid, PREFIX + "h:" + sid, PREFIX + "lru",
                        PREFIX + "bytes", PREFIX + "total",
                        PREFIX + "saved:" + sid}  # (the save receipts: issue 23)
        # the memory budget's sum and the receipts expire too
        for key in (PREFIX + "bytes", PREFIX + "total", PREFIX + "saved:" + sid):
            assert 0 < r.pttl(key) <= 60_000


def test_unreachable_redis_fails_clearly_and_ping_reports_it(
    tmp_path: Any, redis_server: RedisServer,
) -> None:
    port = free_port()
    url = f"redis://user:pw@127.0.0.1:{port}/0"

    async def unreachable() -> None:
        with pytest.raises(StoreUnavailable, match=r"cannot reach .*:\*\*\*@127\.0\.0\.1"):
            await RedisStore(Settings(store=url)).open()

    asyncio.run(unreachable())

    server = RedisServer(redis_server.exe, tmp_path)
    server.start()

    async def goes_away() -> None:
        settings = Settings(store=server.url())
        async with opened(settings) as store:
            assert await store.ping() is True
            s = new_session(settings)
            await store.add(s)
            server.stop()
            assert await store.ping() is False
            with pytest.raises(StoreUnavailable):
                async with store.use(s.id):
                    pass

    try:
        asyncio.run(goes_away())
    finally:
        server.stop()
