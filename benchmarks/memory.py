"""Memory under a flood of session creations: 20,000 `POST /api/v1/sessions` against a real
server (memory store, 1 worker) whose cap is 10,000 sessions. The process's resident memory
must stop growing once the cap is reached (least recently used sessions are evicted), and the
number of sessions must stay at the cap. Also reports the bytes one session costs: in the
server process (RSS growth / sessions held), as a Python object graph (tracemalloc), as its
serialised form (Session.to_bytes(), what Redis stores) and inside Redis (used_memory growth).

Run: ``python -m benchmarks.memory`` (``--sessions 20000 --cap 10000 --preset seed-xor``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc
from typing import Any

import httpx

from benchmarks.servers import app_server, exit_on_sigterm, redis_server, rss_bytes


async def flood(base: str, pid: int, total: int, config: dict[str, Any], every: int,
                concurrency: int = 16) -> list[tuple[int, int, int]]:
    """(created, sessions held, RSS bytes) every `every` creations."""
    points = []
    created = retried = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def worker(n: int) -> None:
            nonlocal created, retried
            for _ in range(n):
                try:
                    r = await http.post("/api/v1/sessions", json=config)
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    # A keep-alive connection the server had just closed: send it again.
                    retried += 1
                    r = await http.post("/api/v1/sessions", json=config)
                r.raise_for_status()
                created += 1

        held = (await http.get("/healthz")).json()["sessions"]
        points.append((0, held, rss_bytes(pid)))
        while created < total:
            batch = min(every, total - created)
            share = [batch // concurrency + (i < batch % concurrency) for i in range(concurrency)]
            await asyncio.gather(*(worker(n) for n in share))
            held = (await http.get("/healthz")).json()["sessions"]
            points.append((created, held, rss_bytes(pid)))
            print(f"  {created:6} created, {held:6} held, RSS {rss_bytes(pid) / 2**20:7.1f} MiB",
                  flush=True)
    if retried:
        print(f"  ({retried} requests sent again after a closed keep-alive connection)")
    return points


def object_bytes(config: dict[str, Any], n: int = 500) -> tuple[float, int]:
    """Python heap per Session (tracemalloc) and the size of its serialised form."""
    from app.config import Settings
    from app.sessions.config import SessionConfig, normalize
    from app.sessions.model import Session

    settings = Settings()
    normalized = normalize(SessionConfig(**config), settings)
    Session.create(normalized, settings)  # warm caches
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep = [Session.create(normalized, settings) for _ in range(n)]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n, len(keep[0].to_bytes())


async def redis_bytes(config: dict[str, Any], n: int = 2000) -> float:
    """used_memory growth of a fresh redis-server per session added through RedisStore."""
    import redis.asyncio as aioredis

    from app.config import Settings
    from app.sessions.config import SessionConfig, normalize
    from app.sessions.model import Session
    from app.sessions.redis_store import RedisStore

    with redis_server() as url:
        settings = Settings(store=url)
        normalized = normalize(SessionConfig(**config), settings)
        store = RedisStore(settings, cache_bytes=0)
        await store.open()
        r = aioredis.Redis.from_url(url)
        try:
            before = (await r.info("memory"))["used_memory"]
            for _ in range(n):
                await store.add(Session.create(normalized, settings))
            after = (await r.info("memory"))["used_memory"]
        finally:
            await r.aclose()
            await store.close()
    return float(after - before) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--cap", type=int, default=10_000)
    parser.add_argument("--preset", default=None, help="default: POST {} (2-4-1 XOR)")
    args = parser.parse_args()
    exit_on_sigterm()
    config = {} if args.preset is None else {"preset": args.preset}
    label = args.preset or "default {}"
    every = max(1, args.sessions // 10)
    print(f"# flood: {args.sessions} creations of {label}, cap {args.cap}", flush=True)
    # active_window 0: the flood measures memory past the cap, with LRU eviction.
    with app_server("memory", 1, max_sessions=str(args.cap), active_window="0") as (base, proc):
        points = asyncio.run(flood(base, proc.pid, args.sessions, config, every))
    # The slope from the first checkpoint (imports and allocator warm) to the cap.
    first = points[1]
    at_cap = next(p for p in points if p[0] >= args.cap)
    end = points[-1]
    per_session = (at_cap[2] - first[2]) / max(1, at_cap[1] - first[1])
    after_cap = [p for p in points if p[0] >= args.cap]
    growth = (after_cap[-1][2] - after_cap[0][2]) / 2**20
    heap, serialised = object_bytes(config)
    in_redis = asyncio.run(redis_bytes(config))
    print()
    print("| created | sessions held | RSS MiB |\n|---:|---:|---:|")
    for created, held, rss in points:
        print(f"| {created} | {held} | {rss / 2**20:.1f} |")
    print()
    print(f"| {label} | bytes per session |\n|---|---:|")
    print(f"| server RSS growth per session held (up to the cap) | {per_session:,.0f} |")
    print(f"| Python heap (tracemalloc, Session objects) | {heap:,.0f} |")
    print(f"| serialised (Session.to_bytes(), what Redis stores) | {serialised:,} |")
    print(f"| Redis used_memory growth | {in_redis:,.0f} |")
    print(f"\nheld at the end: {end[1]} (cap {args.cap}); RSS growth after the cap was reached: "
          f"{growth:+.1f} MiB over {args.sessions - at_cap[0]} more creations")
    assert end[1] <= args.cap, "the session count exceeded the cap"


if __name__ == "__main__":
    main()
