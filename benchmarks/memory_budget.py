"""RSS within the memory budget for the big-network case (issue #23): sessions of
[2, 64, 64, 64, 64, 1] trained many times (each train a restore point on the undo ring, each
epoch a history point with its gradient norms) and a class of watchers, some of which never
read their stream. Against a real server (memory store, 1 worker).

What the worker may hold: its resting RSS, plus ``memory_budget`` (sessions, with their undo
rings and histories, as counted by the store), plus ``watch_cache_bytes`` (watchers' copies and
frames), plus ``watch_buffer_bytes`` (frames held for slow watchers), plus
``render_memory_budget`` (what page renders, watchers' frames and state replies hold while they
are built: app/sessions/render_budget.py). The figures: RSS growth against that sum, the
store's own count against ``memory_budget``, and how many sessions the budget evicted.

Run: ``python -m benchmarks.memory_budget`` (``--sessions 40 --trains 30 --watchers 30``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

from benchmarks.servers import app_server, exit_on_sigterm, rss_bytes

MiB = 1 << 20
BIG: dict[str, Any] = {"preset": "spiral", "layers": [2, 64, 64, 64, 64, 1],
                       "dataset": {"name": "spiral", "samples": 100, "noise": 0.1, "seed": 1}}


async def stalled_watchers(base: str, wid: str, n: int) -> list[asyncio.StreamWriter]:
    """``n`` connections that ask for the frame stream and never read a byte of it."""
    host, port = base.removeprefix("http://").split(":")
    out = []
    for _ in range(n):
        _, w = await asyncio.open_connection(host, int(port))
        w.write(f"GET /w/{wid}/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await w.drain()
        out.append(w)
    return out


async def run(args: argparse.Namespace) -> None:
    settings = {"memory_budget": str(args.budget * MiB), "active_window": "0",
                "watch_cache_bytes": str(args.watch_cache * MiB),
                "watch_buffer_bytes": str(args.watch_buffer * MiB), "kernel": "numpy",
                "train_time_budget": "10", "render_memory_budget": str(args.render * MiB)}
    with app_server(**settings) as (base, proc):
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            baseline = rss_bytes(proc.pid)
            print(f"resting RSS {baseline / MiB:.1f} MiB; budget {args.budget} MiB, watch caches "
                  f"{args.watch_cache} MiB, watch buffers {args.watch_buffer} MiB")
            t0 = time.monotonic()
            first = (await http.post("/api/v1/sessions", json=BIG)).json()["id"]
            wid = (await http.post(f"/api/v1/sessions/{first}/watch")).json()["watch_id"]
            stalled = await stalled_watchers(base, wid, args.watchers)
            made, peak = [first], 0
            for i in range(args.sessions):
                sid = first if i == 0 else (await http.post("/api/v1/sessions",
                                                            json=BIG)).json()["id"]
                made.append(sid)
                for _ in range(args.trains):
                    r = await http.post(f"/api/v1/sessions/{sid}/train",
                                        json={"epochs": args.epochs})
                    r.raise_for_status()
                    await http.post(f"/api/v1/sessions/{first}/step")  # watched: new frames
                peak = max(peak, rss_bytes(proc.pid))
                if (i + 1) % 2 == 0:
                    print(f"  {i + 1:3} sessions, RSS {rss_bytes(proc.pid) / MiB:7.1f} MiB",
                          flush=True)
            held = (await http.get("/healthz")).json()["sessions"]
            end = rss_bytes(proc.pid)
            for w in stalled:
                w.close()
    allowed = args.budget + args.watch_cache + args.watch_buffer + args.render
    grew = (max(peak, end) - baseline) / MiB
    print(f"{args.sessions} sessions × {args.trains} trains × {args.epochs} epochs, "
          f"{args.watchers} stalled watchers, {time.monotonic() - t0:.0f} s")
    print(f"sessions held at the end: {held} (the rest evicted by the memory budget)")
    print(f"RSS growth: peak {grew:.1f} MiB; allowed (budget + watch caches + watch buffers + "
          f"render budget) {allowed} MiB -> {'within' if grew <= allowed else 'OVER'}")


def main() -> None:
    exit_on_sigterm()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=40)
    p.add_argument("--trains", type=int, default=30)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--watchers", type=int, default=30)
    p.add_argument("--budget", type=int, default=64, help="memory_budget in MiB")
    p.add_argument("--watch-cache", type=int, default=32, help="watch_cache_bytes in MiB")
    p.add_argument("--watch-buffer", type=int, default=64, help="watch_buffer_bytes in MiB")
    p.add_argument("--render", type=int, default=96, help="render_memory_budget in MiB")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
