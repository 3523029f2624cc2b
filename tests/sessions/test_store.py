"""The SessionStore contract, on the memory store and on a real redis-server: add/use/delete,
saving, the per-session lock, TTL, the LRU cap and eviction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest

from app.config import Settings
from app.sessions import service
from app.sessions.store import SessionBusy, SessionNotFound
from tests.sessions.conftest import new_session, opened

MakeSettings = Callable[..., Settings]


def test_add_use_delete_count(make_settings: MakeSettings) -> None:
    settings = make_settings()

    async def scenario() -> None:
        async with opened(settings) as store:
            assert await store.ping() is True
            assert await store.count() == 0
            s = new_session(settings, preset="seed-xor")
            await store.add(s)
            assert await store.count() == 1
            async with store.use(s.id) as got:
                assert got.id == s.id
                service.train(got, 5, settings)
            async with store.use(s.id, write=False) as got:
                assert got.trainer.epoch == 5  # the change was saved
            assert await store.delete(s.id) is True
            assert await store.delete(s.id) is False
            assert await store.count() == 0
            with pytest.raises(SessionNotFound):
                async with store.use(s.id):
                    pass

    asyncio.run(scenario())


def test_unknown_id_is_not_found_and_leaves_nothing_behind(make_settings: MakeSettings) -> None:
    settings = make_settings()

    async def scenario() -> None:
        async with opened(settings) as store:
            for write in (True, False):
                with pytest.raises(SessionNotFound):
                    async with store.use("no-such-session", write=write):
                        pass
            assert await store.count() == 0
            # The lock of a missing session was released: a later add + use works at once.
            s = new_session(settings)
            await store.add(s)
            async with asyncio.timeout(2):
                async with store.use(s.id) as got:
                    assert got.id == s.id

    asyncio.run(scenario())


def test_an_exception_inside_use_releases_the_lock(make_settings: MakeSettings) -> None:
    settings = make_settings(lock_timeout=5.0)

    async def scenario() -> None:
        async with opened(settings) as store:
            s = new_session(settings, preset="seed-xor")
            await store.add(s)
            with pytest.raises(RuntimeError, match="boom"):
                async with store.use(s.id):
                    raise RuntimeError("boom")
            async with asyncio.timeout(2), store.use(s.id) as got:
                assert got.trainer.epoch == 0

    asyncio.run(scenario())


def test_concurrent_uses_of_one_session_apply_one_after_another(
    make_settings: MakeSettings,
) -> None:
    """Read-modify-write with a yield in the middle: without the lock updates would be lost."""
    settings = make_settings()

    async def scenario() -> None:
        async with opened(settings) as store:
            s = new_session(settings, preset="seed-xor")
            await store.add(s)
            inside = 0
            most_inside = 0

            async def bump() -> None:
                nonlocal inside, most_inside
                async with store.use(s.id) as got:
                    inside += 1
                    most_inside = max(most_inside, inside)
                    epoch = got.trainer.epoch
                    await asyncio.sleep(0.002)
                    got.trainer.epoch = epoch + 1
                    inside -= 1

            await asyncio.gather(*(bump() for _ in range(25)))
            assert most_inside == 1
            async with store.use(s.id, write=False) as got:
                assert got.trainer.epoch == 25

    asyncio.run(scenario())


def test_lru_cap_evicts_the_least_recently_used(make_settings: MakeSettings) -> None:
    settings = make_settings(max_sessions=3)

    async def scenario() -> None:
        async with opened(settings) as store:
            a, b, c, d, e = (new_session(settings) for _ in range(5))
            for s in (a, b, c):
                await store.add(s)
                await asyncio.sleep(0.002)  # distinct last-use times
            async with store.use(a.id, write=False):  # a is now more recent than b and c
                pass
            await asyncio.sleep(0.002)
            await store.add(d)  # evicts b
            assert await store.count() == 3
            with pytest.raises(SessionNotFound):
                async with store.use(b.id):
                    pass
            await asyncio.sleep(0.002)
            await store.add(e)  # evicts c
            with pytest.raises(SessionNotFound):
                async with store.use(c.id):
                    pass
            for s in (a, d, e):
                async with store.use(s.id, write=False) as got:
                    assert got.id == s.id
            assert await store.count() == 3

    asyncio.run(scenario())


def test_flood_keeps_the_count_at_the_cap(make_settings: MakeSettings) -> None:
    settings = make_settings(max_sessions=50)

    async def scenario() -> None:
        async with opened(settings) as store:
            ids = []
            for _ in range(400):
                s = new_session(settings, preset="seed-xor")
                await store.add(s)
                ids.append(s.id)
                assert await store.count() <= 50
            assert await store.count() == 50
            for sid in ids[-50:]:
                async with store.use(sid, write=False) as got:
                    assert got.id == sid
            with pytest.raises(SessionNotFound):
                async with store.use(ids[-51]):
                    pass

    asyncio.run(scenario())


def test_idle_sessions_expire_and_use_refreshes_the_ttl(make_settings: MakeSettings) -> None:
    settings = make_settings(session_ttl=1.0)

    async def scenario() -> None:
        async with opened(settings) as store:
            idle, busy = new_session(settings), new_session(settings)
            await store.add(idle)
            await store.add(busy)
            for _ in range(6):  # 6 × 0.25 s: longer than the TTL, but busy is used throughout
                await asyncio.sleep(0.25)
                async with store.use(busy.id, write=False):
                    pass
            with pytest.raises(SessionNotFound):
                async with store.use(idle.id):
                    pass
            async with store.use(busy.id) as got:
                assert got.id == busy.id
            assert await store.count() == 1
            await asyncio.sleep(1.3)
            assert await store.count() == 0

    asyncio.run(scenario())


def test_a_busy_session_gives_session_busy_not_a_hang(make_settings: MakeSettings) -> None:
    holder_settings = make_settings(lock_timeout=10.0)

    async def scenario() -> None:
        async with opened(holder_settings) as store:
            s = new_session(holder_settings)
            await store.add(s)
            held = asyncio.Event()
            release = asyncio.Event()

            async def hold() -> None:
                async with store.use(s.id):
                    held.set()
                    await release.wait()

            task = asyncio.create_task(hold())
            await held.wait()
            store.settings = make_settings(lock_timeout=1.2, train_time_budget=0.1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(SessionBusy) as info:
                async with store.use(s.id):
                    pass
            assert loop.time() - started >= 1.1
            assert "1.2 s" in str(info.value)
            release.set()
            await task
            async with store.use(s.id) as got:  # free again
                assert got.id == s.id

    asyncio.run(scenario())


def test_an_unchanged_roundtrip_keeps_the_session_bit_for_bit(make_settings: MakeSettings) -> None:
    settings = make_settings()

    async def scenario() -> None:
        async with opened(settings) as store:
            s = new_session(settings, preset="spiral")
            for _ in range(7):
                service.step(s)
            expected = s.to_bytes()
            W = [w.copy() for w in s.trainer.net.W]
            await store.add(s)
            async with store.use(s.id) as got:
                for w, w0 in zip(got.trainer.net.W, W, strict=True):
                    assert np.array_equal(w, w0)
                got.last_used = 0.0
                assert got.to_bytes() == _with_last_used(expected, 0.0, settings)

    asyncio.run(scenario())


def _with_last_used(raw: bytes, when: float, settings: Settings) -> bytes:
    from app.sessions.model import Session

    s = Session.from_bytes(raw, settings)
    s.last_used = when
    return s.to_bytes()
