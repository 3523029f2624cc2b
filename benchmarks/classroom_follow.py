"""A classroom on one worker: one teacher stepping and playing, N watchers (default 200) on the
session's watch link over Server-Sent Events.

Measured, for every teacher step: the time from the teacher's reply to each watcher's event
(every watcher must receive every step's event: steps are paced like a quick teacher, slower
than watch_min_interval, so none is coalesced away), and the teacher's own step latency, beside
the same steps with no watchers (the reference, same process). Then the teacher plays (Play
ticks, 4 a second): tick latency, and how many (coalesced) events each watcher got.
With ``--frames`` the watchers follow the watch page's stream instead: every event carries the
rendered HTML frame (rendered once per version on the worker, then sent from its cache), which
is what 200 phones on /w/{id} receive.

Run: ``python -m benchmarks.classroom_follow`` (``--quick`` for a smoke run, ``--store redis``
for Redis pub/sub).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field

import httpx

from benchmarks.servers import app_server, exit_on_sigterm, redis_server

S = "/api/v1/sessions"


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    ys = sorted(xs)
    return ys[min(len(ys) - 1, round(q * (len(ys) - 1)))]


@dataclass
class Watcher:
    arrivals: dict[int, float] = field(default_factory=dict)  # version -> perf_counter
    events: int = 0
    frames: int = 0  # bytes of frame data received
    ready: asyncio.Event = field(default_factory=asyncio.Event)


async def watch(client: httpx.AsyncClient, wid: str, w: Watcher, frames: bool) -> None:
    """Follow the API stream (JSON summaries), or with ``frames`` the watch page's stream
    (rendered HTML frames, as a browser on /w/{id} receives them)."""
    url = f"/w/{wid}/events" if frames else f"/api/v1/watch/{wid}/events"
    async with client.stream("GET", url) as r:
        if r.status_code != 200:
            raise RuntimeError(f"watch stream: {r.status_code} {(await r.aread())[:200]!r}")
        version = None
        size = 0
        async for line in r.aiter_lines():
            if line.startswith("id:"):
                version = int(line[3:])
            elif line.startswith("data:"):
                size += len(line)
            elif not line and version is not None:
                w.arrivals.setdefault(version, time.perf_counter())
                w.events += 1
                w.frames += size if frames else 0
                w.ready.set()
                version, size = None, 0


async def steps(client: httpx.AsyncClient, sid: str, n: int, pause: float
                ) -> tuple[list[float], dict[int, float]]:
    latencies, replies = [], {}
    for _ in range(n):
        t0 = time.perf_counter()
        r = await client.post(f"{S}/{sid}/step")
        t1 = time.perf_counter()
        assert r.status_code == 200, r.text
        latencies.append(t1 - t0)
        replies[r.json()["version"]] = t1
        await asyncio.sleep(pause)
    return latencies, replies


async def run(base: str, watchers: int, n_steps: int, pause: float, play: float,
              frames: bool) -> dict[str, float]:
    limits = httpx.Limits(max_connections=watchers * 2 + 10, max_keepalive_connections=watchers)
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client, \
            httpx.AsyncClient(base_url=base, timeout=timeout) as teacher:
        sid = (await teacher.post(S, json={"preset": "seed-xor"})).json()["id"]
        # Reference: the same steps with nobody watching.
        ref, _ = await steps(teacher, sid, n_steps, pause)
        wid = (await teacher.post(f"{S}/{sid}/watch")).json()["watch_id"]
        ws = [Watcher() for _ in range(watchers)]
        tasks = [asyncio.create_task(watch(client, wid, w, frames)) for w in ws]
        await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in ws)), 60)
        lat, replies = await steps(teacher, sid, n_steps, pause)
        await asyncio.sleep(1.5)  # let the last events arrive
        delays, missing = [], 0
        for w in ws:
            for version, t_reply in replies.items():
                t = w.arrivals.get(version)
                if t is None:
                    missing += 1
                else:
                    delays.append(max(0.0, t - t_reply))
        # Play: ticks of 10 epochs, 4 a second, as the page's Play button does.
        before = [w.events for w in ws]
        ticks: list[float] = []
        end = time.perf_counter() + play
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            r = await teacher.post(f"/s/{sid}/tick?n=10", headers={"hx-request": "true"})
            assert r.status_code == 200, r.status_code
            ticks.append(time.perf_counter() - t0)
            await asyncio.sleep(max(0.0, 0.25 - (time.perf_counter() - t0)))
        await asyncio.sleep(1.0)
        played = [w.events - b for w, b in zip(ws, before, strict=True)]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {
            "watchers": watchers, "steps": n_steps,
            "missing": missing,
            "event_p50_ms": 1000 * pct(delays, 0.5), "event_p99_ms": 1000 * pct(delays, 0.99),
            "event_max_ms": 1000 * max(delays, default=float("nan")),
            "step_ref_p50_ms": 1000 * pct(ref, 0.5), "step_ref_p99_ms": 1000 * pct(ref, 0.99),
            "step_p50_ms": 1000 * pct(lat, 0.5), "step_p99_ms": 1000 * pct(lat, 0.99),
            "step_p99_ratio": pct(lat, 0.99) / pct(ref, 0.99),
            "ticks": len(ticks), "tick_p99_ms": 1000 * pct(ticks, 0.99),
            "play_events_per_watcher_mean": statistics.mean(played),
            "play_events_per_watcher_max": max(played),
            "frame_kb_mean": sum(w.frames for w in ws) / max(1, sum(w.events for w in ws)) / 1024,
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--watchers", type=int, default=200)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--pause", type=float, default=0.3, help="seconds between teacher steps")
    p.add_argument("--play", type=float, default=5.0, help="seconds of Play")
    p.add_argument("--store", choices=("memory", "redis"), default="memory")
    p.add_argument("--frames", action="store_true", help="watchers follow the page stream")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.watchers, a.steps, a.play = 20, 5, 1.0
    exit_on_sigterm()
    settings = {"create_rate_limit": "0", "watch_max_per_client": "0",
                "watch_max_per_session": str(a.watchers + 10)}

    def go(store: str) -> dict[str, float]:
        with app_server(store, 1, **settings) as (base, _proc):
            return asyncio.run(run(base, a.watchers, a.steps, a.pause, a.play, a.frames))

    if a.store == "redis":
        with redis_server() as url:
            out = go(url)
    else:
        out = go("memory")
    print(f"## classroom_follow ({a.store} store, 1 worker, frames={a.frames})\n")
    print("| measure | value |\n|---|---|")
    for k, v in out.items():
        print(f"| {k} | {v:.3g} |" if isinstance(v, float) else f"| {k} | {v} |")
    ok = (out["missing"] == 0 and out["event_p99_ms"] < 1000 and out["step_p99_ms"] < 100)
    print(f"\ntarget (every event, event p99 < 1 s, step p99 < 100 ms): "
          f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
