"""Cost independent of age (#22): with the Redis store a session's history rows are appended,
never rewritten by a tick, so the bytes a tick sends to Redis do not grow with the history,
and the history's key grows by exactly one fixed-width row per recorded epoch."""

from __future__ import annotations

import asyncio
from typing import Any

import redis

from app.config import Settings
from app.sessions import service, snapshot
from app.sessions.model import Session
from app.sessions.redis_store import PREFIX, RedisStore
from tests.sessions.conftest import new_session, opened


def sent_by_saves(store: Any) -> list[int]:
    """Wrap the store's script calls: the bytes of every save's arguments, in order."""
    sizes: list[int] = []
    call = store._script

    def counting(name: str, keys: list[str], args: list[Any]) -> Any:
        if name == "save":
            sizes.append(sum(len(a) if isinstance(a, bytes | str) else len(str(a))
                             for a in args))
        return call(name, keys, args)

    store._script = counting
    return sizes


def test_a_tick_sends_the_same_bytes_at_epoch_10000_as_at_epoch_100(redis_url: str) -> None:
    # A small ring (full at both ages) so that only the history could make a tick grow.
    settings = Settings(store=redis_url, undo_depth=2)
    s = new_session(settings, preset="seed-xor")
    L = s.trainer.L

    async def scenario() -> tuple[list[int], list[int], int]:
        async with opened(settings) as store:
            assert isinstance(store, RedisStore)
            sizes = sent_by_saves(store)
            await store.add(s)

            async def tick() -> None:
                async with store.use(s.id) as live:
                    service.train(live, 10, settings)
                    live.version += 1

            while s.trainer.epoch < 100:
                await tick()
            young = sizes[-3:]
            async with store.use(s.id) as live:  # age the session without counting
                service.train(live, 9_900, settings)
            for _ in range(3):
                await tick()
            return young, sizes[-3:], s.trainer.epoch

    young, old, epoch = asyncio.run(scenario())
    assert epoch == 10_030
    # The same bytes (a counter's digits may differ), not 9,900 rows (396,000 bytes) more.
    assert max(old) <= max(young) + 32, (young, old)
    # Each tick appended its 10 rows: 10 × 8 × (3 + L) bytes, within the sizes above.
    assert min(young) > 10 * snapshot.row_width(L)
    with redis.Redis.from_url(redis_url) as r:
        assert r.strlen(PREFIX + "h:" + s.id) == 10_030 * snapshot.row_width(L)


def test_the_history_key_grows_by_one_row_per_epoch(redis_url: str) -> None:
    settings = Settings(store=redis_url)
    s = new_session(settings, preset="xor-bias")
    width = snapshot.row_width(s.trainer.L)

    async def scenario() -> list[int]:
        lengths = []
        async with opened(settings) as store:
            await store.add(s)
            for epochs in (1, 10, 100, 1000):
                async with store.use(s.id) as live:
                    service.train(live, epochs, settings)
                with redis.Redis.from_url(redis_url) as r:
                    lengths.append(r.strlen(PREFIX + "h:" + s.id))
        return lengths

    assert asyncio.run(scenario()) == [w * width for w in (1, 11, 111, 1111)]


def test_a_session_saved_with_its_history_inside_still_loads(redis_url: str) -> None:
    # Saved before the history was stored apart: its core holds the history, no h: key.
    settings = Settings(store=redis_url)
    s = new_session(settings, preset="seed-xor")
    service.train(s, 12, settings)
    with redis.Redis.from_url(redis_url) as r:
        r.hset(PREFIX + "s:" + s.id, mapping={"d": s.to_bytes(), "v": b"old"})
        r.zadd(PREFIX + "lru", {s.id: 1})

    async def scenario() -> tuple[list[float], list[float]]:
        # loads, trains, saves in the new form
        async with opened(settings) as store, store.use(s.id) as live:
            assert live.trainer.history.loss == s.trainer.history.loss
            service.train(live, 3, settings)
            want = list(live.trainer.history.loss)
        async with opened(settings) as store, store.use(s.id, write=False) as again:
            return want, list(again.trainer.history.loss)

    want, got = asyncio.run(scenario())
    assert len(want) == 15 and got == want


def test_the_lessons_10000_epochs_come_back_bit_for_bit(redis_url: str) -> None:
    # seed-xor's 10,000 epochs, trained in 1,000-epoch calls by two workers taking turns (each
    # reads only the rows it lacks), equal a session that never left memory, bit for bit.
    settings = Settings(store=redis_url)
    ref = new_session(settings, preset="seed-xor")
    s = Session.from_bytes(ref.to_bytes(), settings)
    service.train(ref, 10_000, settings)

    async def scenario() -> Session:
        async with opened(settings) as a, opened(settings) as b:
            await a.add(s)
            for i in range(10):
                async with (a, b)[i % 2].use(s.id) as live:
                    service.train(live, 1_000, settings)
        async with opened(settings) as c:
            _, copy = await c.saved(s.id, None)
        assert copy is not None
        return copy

    got = asyncio.run(scenario())
    h, want = got.trainer.history, ref.trainer.history
    assert len(h.epoch) == 10_000 and h.epoch == want.epoch
    L = ref.trainer.L
    assert all(x.tobytes() == y.tobytes()
               for x, y in zip(h.columns(L), want.columns(L), strict=True))
    assert got.trainer.epoch == 10_000
