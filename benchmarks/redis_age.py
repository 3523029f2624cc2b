"""Cost independent of age (issue #22): a Play tick's cost with the Redis store at epoch ~100
and at epoch ~100,000, and what a session's Redis keys grow by per epoch.

Three `spiral` sessions (compiled kernel, as the page creates it) on a fresh redis-server, at
epoch 100, 3,000 and 100,000, ticked round-robin so that the machine's other load falls on all
ages alike. A tick is what the door does for POST /s/{id}/tick?n=10: take the session under
its lock, record a restore point, train 10 epochs, bump the version, save. Per session: the
median over ``--ticks`` ticks of the store's work (load + save: the tick minus its training)
and of the whole tick, with one worker (its cache is current: only the save) and with two
workers taking turns (each tick also reads the session afresh: the core and only the rows it
lacks); the bytes each save sends; MEMORY USAGE of the session's two keys (core and history).

With ``--http`` also the whole Play tick over HTTP (an app worker on that Redis, the page's
frame rendered): a session at epoch 100 and one at 101,000, ticked in turn.

Run: ``python -m benchmarks.redis_age [--http]`` (``--quick``: 20,000 epochs, 20 ticks).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
from typing import Any

import redis

from app.config import Settings
from app.nn import kernel_slot
from app.sessions import service, undo
from app.sessions.config import SessionConfig, normalize
from app.sessions.model import Session
from app.sessions.redis_store import PREFIX, RedisStore
from benchmarks.servers import redis_server

HAVE = re.compile(r'id="tick-have" name="have" value="([^"]*)"')


def counting(store: RedisStore, sizes: list[int]) -> None:
    """Record the bytes of every save's arguments (what a tick sends to Redis)."""
    call = store._script

    def wrapped(name: str, keys: list[str], args: list[Any]) -> Any:
        if name == "save":
            sizes.append(sum(len(a) if isinstance(a, bytes | str) else len(str(a))
                             for a in args))
        return call(name, keys, args)

    store._script = wrapped  # type: ignore[method-assign]


async def tick(store: RedisStore, sid: str, settings: Settings) -> tuple[float, float]:
    """(store work, whole tick) in seconds."""
    t0 = time.perf_counter()
    async with store.use(sid) as s:
        t1 = time.perf_counter()
        before = undo.capture(s)
        service.train(s, 10, settings)
        s.undo.push(undo.point_after(s, before, "tick"), settings.undo_depth,
                    settings.undo_max_bytes)
        s.version += 1
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    return (t1 - t0) + (t3 - t2), t3 - t0


async def measure(stores: list[RedisStore], sids: list[str], settings: Settings,
                  ticks: int, sizes: list[int]) -> dict[str, list[float]]:
    """Round-robin over the sessions (the machine's other load falls on every age alike):
    per session, its ticks' store work and whole time, one worker then two taking turns."""
    out: dict[str, list[float]] = {}
    for label, turn in (("one", stores[:1]), ("two", stores)):
        work: list[list[float]] = [[] for _ in sids]
        whole: list[list[float]] = [[] for _ in sids]
        sent: list[list[int]] = [[] for _ in sids]
        for i in range(ticks):
            for k, sid in enumerate(sids):
                w, t = await tick(turn[i % len(turn)], sid, settings)
                work[k].append(w)
                whole[k].append(t)
                sent[k].append(sizes[-1])
        out[f"{label}_store_ms"] = [statistics.median(x) * 1000 for x in work]
        out[f"{label}_tick_ms"] = [statistics.median(x) * 1000 for x in whole]
        out[f"{label}_sent"] = [statistics.median(x) for x in sent]
    return out


def key_bytes(url: str, sid: str) -> tuple[int, int, int]:
    """MEMORY USAGE of the core and of the history key, and the history's length."""
    with redis.Redis.from_url(url) as r:
        return (int(r.memory_usage(PREFIX + "s:" + sid) or 0),
                int(r.memory_usage(PREFIX + "h:" + sid) or 0),
                int(r.strlen(PREFIX + "h:" + sid)))


async def run(url: str, age: int, ticks: int) -> None:
    settings = Settings(store=url, train_time_budget=600, lock_timeout=700, kernel_wait=120)
    sizes: list[int] = []
    stores = [RedisStore(settings), RedisStore(settings)]
    for store in stores:
        await store.open()
        counting(store, sizes)
    try:
        # Three sessions: at epoch 100 (its undo ring still filling, as in a real session),
        # at epoch 3,000 (the ring full, 300 ticks old) and at ``age``.
        sids, ages = [], (100, 3_000, age)
        for target in ages:
            s = Session.create(normalize(SessionConfig(preset="spiral", init={"seed": 1}),
                                         settings), settings)
            kernel_slot.wait_for(s.config.kernel, 120)
            await stores[0].add(s)
            async with stores[0].use(s.id) as live:
                if target > 100:  # 300 ticks' restore points: a full ring
                    for _ in range(300):
                        before = undo.capture(live)
                        service.train(live, 10, settings)
                        live.undo.push(undo.point_after(live, before, "tick"),
                                       settings.undo_depth, settings.undo_max_bytes)
                if target > live.trainer.epoch:
                    service.train(live, target - live.trainer.epoch, settings)
            sids.append(s.id)
        before = [key_bytes(url, sid) for sid in sids]
        r = await measure(stores, sids, settings, ticks, sizes)
        after = [key_bytes(url, sid) for sid in sids]
        print(f"{ticks} ticks of 10 epochs per session and mode, round-robin over the sessions")
        print("| epoch at start | store work, 1 worker (ms) | tick, 1 worker (ms) | store work, "
              "2 workers (ms) | tick, 2 workers (ms) | bytes sent per save | core key (B) "
              "| history key (B) | history rows (B) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for k, a in enumerate(ages):
            core, hist, n = after[k]
            print(f"| {a:,} | {r['one_store_ms'][k]:.2f} | {r['one_tick_ms'][k]:.2f} | "
                  f"{r['two_store_ms'][k]:.2f} | {r['two_tick_ms'][k]:.2f} | "
                  f"{r['one_sent'][k]:,.0f} | {core:,} | {hist:,} | {n:,} |")
        for key in ("one_store_ms", "one_tick_ms", "two_store_ms", "two_tick_ms"):
            v = r[key]
            print(f"{key}: epoch {age:,} / epoch 100 = {v[2] / v[0]:.2f}; "
                  f"/ epoch 3,000 = {v[2] / v[1]:.2f}")
        for k, a in enumerate(ages):  # what every save sent before the rows were apart
            async with stores[0].use(sids[k], write=False) as live:
                print(f"epoch {a:,}: the whole snapshot (Session.to_bytes(), what a save sent "
                      f"before the history was appended) is {len(live.to_bytes()):,} bytes")
        epochs = 2 * ticks * 10
        for k, a in enumerate(ages):
            grown = sum(after[k][:2]) - sum(before[k][:2])
            print(f"epoch {a:,}: Redis memory grew {grown / epochs:.1f} B per epoch over the "
                  f"{epochs:,} epochs measured (history rows: "
                  f"{(after[k][2] - before[k][2]) / epochs:.1f} B per epoch)")
    finally:
        for store in stores:
            await store.close()


def http_ticks(url: str, age: int, ticks: int) -> None:
    """The whole Play tick over HTTP (one app worker on the Redis store, rendering included):
    a session at epoch 100 and one at ``age``, POST /s/{id}/tick?n=10 in turn."""
    import httpx

    from benchmarks.servers import app_server

    with app_server(store=url, workers=1) as (base, _), httpx.Client(
            base_url=base, timeout=120) as http:
        sids = []
        for target in (100, age):
            r = http.post("/api/v1/sessions", json={"preset": "spiral", "init": {"seed": 1}})
            r.raise_for_status()
            sid = r.json()["id"]
            epoch = 0
            while epoch < target:  # train_time_budget per call: repeat until the target
                r = http.post(f"/api/v1/sessions/{sid}/train",
                              json={"target_epoch": min(target, epoch + 90_000)})
                if r.status_code == 503:  # the compiled kernel still compiling
                    time.sleep(1)
                    continue
                r.raise_for_status()
                epoch = r.json()["epoch"]
            sids.append(sid)
        have = ["", ""]
        took: list[list[float]] = [[], []]
        sizes: list[list[int]] = [[], []]
        for _ in range(ticks):
            for k, sid in enumerate(sids):
                t0 = time.perf_counter()
                r = http.post(f"/s/{sid}/tick?n=10", data={"have": have[k]},
                              headers={"HX-Request": "true"})
                took[k].append(time.perf_counter() - t0)
                r.raise_for_status()
                sizes[k].append(len(r.content))
                m = HAVE.search(r.text)
                have[k] = m.group(1) if m else ""
    print(f"\nPlay ticks over HTTP ({ticks} each, in turn; one worker on Redis):")
    print("| epoch at start | tick p50 (ms) | tick p90 (ms) | frame (B, median) |")
    print("|---|---|---|---|")
    for k, a in enumerate((100, age)):
        q = statistics.quantiles(took[k], n=10)
        print(f"| {a:,} | {statistics.median(took[k]) * 1000:.1f} | {q[8] * 1000:.1f} | "
              f"{statistics.median(sizes[k]):,.0f} |")
    print(f"tick p50: epoch {age:,} / epoch 100 = "
          f"{statistics.median(took[1]) / statistics.median(took[0]):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="age 20,000 epochs, 20 ticks")
    # Past epoch 100,001, where the default history_limit first compacts the history (a
    # rewrite of its rows, once): the ticks measured append only.
    ap.add_argument("--age", type=int, default=101_000)
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--http", action="store_true",
                    help="also the whole Play tick over HTTP, page rendering included")
    ap.add_argument("--http-only", action="store_true", help="only the ticks over HTTP")
    a = ap.parse_args()
    age, ticks = (20_000, 20) if a.quick else (a.age, a.ticks)
    with redis_server() as url:
        if not a.http_only:
            asyncio.run(run(url, age, ticks))
        if a.http or a.http_only:
            http_ticks(url, age, ticks)


if __name__ == "__main__":
    main()
