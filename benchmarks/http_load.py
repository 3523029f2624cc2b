"""HTTP load on loopback: requests/s and p50/p99 latency of `step`, `train` (1 epoch) and the
session page at 1, 8 and 32 concurrent sessions, beside a trivial endpoint of the same app
(/healthz) as the reference; on the memory store (1 worker) and on Redis (2 workers). It starts
its own servers on free loopback ports and stops them.

Each cell: one async httpx client per session (keep-alive), each looping on its own session
(the lesson's seed-xor network) for at most --requests requests in total or --seconds seconds,
after a short warm-up. Prints a markdown table.

Run: ``python -m benchmarks.http_load`` (add ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from dataclasses import dataclass

import httpx

from benchmarks.servers import app_server, exit_on_sigterm, redis_server

CONCURRENCY = (1, 8, 32)


@dataclass
class Cell:
    store: str
    endpoint: str
    sessions: int
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


async def run_cell(base: str, store: str, endpoint: str, page: str, n: int, total: int,
                   seconds: float, rate: float | None = None) -> Cell:
    """n sessions, each with its own client and connection (one student each) looping on its
    own session: back to back (closed loop), or ``rate`` requests per second (open loop, as a
    class clicking or polling)."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
                   for _ in range(n)]
        ids = []
        for http in clients:
            r = await http.post("/api/v1/sessions", json={"preset": "seed-xor"})
            r.raise_for_status()
            ids.append(r.json()["id"])

        def request(sid: str) -> tuple[str, str, dict[str, object] | None]:
            if endpoint == "healthz":
                return "GET", "/healthz", None
            if endpoint == "step":
                return "POST", f"/api/v1/sessions/{sid}/step", None
            if endpoint == "train":
                return "POST", f"/api/v1/sessions/{sid}/train", {"epochs": 1}
            return "GET", page.format(sid=sid), None

        latencies: list[float] = []
        errors = 0
        count = 0
        start = stop_at = 0.0  # the warm-up makes its requests and stops

        async def client(http: httpx.AsyncClient, sid: str, warmup: int, phase: float) -> None:
            nonlocal errors, count
            method, url, body = request(sid)
            for _ in range(warmup):
                await http.request(method, url, json=body)
            sent = 0
            while count < total and time.perf_counter() < stop_at:
                if rate is not None:  # the next slot of this session's schedule
                    await asyncio.sleep(max(0.0, start + phase + sent / rate
                                            - time.perf_counter()))
                    sent += 1
                count += 1
                t0 = time.perf_counter()
                try:
                    r = await http.request(method, url, json=body)
                    ok = r.status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        await asyncio.gather(*(client(h, sid, 5, 0.0) for h, sid in zip(clients, ids,
                                                                         strict=True)))
        count = errors = 0
        latencies.clear()
        start = time.perf_counter()
        stop_at = start + seconds
        phases = [i / (n * rate) for i in range(n)] if rate else [0.0] * n
        await asyncio.gather(*(client(h, sid, 0, ph)
                               for h, sid, ph in zip(clients, ids, phases, strict=True)))
        elapsed = time.perf_counter() - start
        for http, sid in zip(clients, ids, strict=True):
            await http.delete(f"/api/v1/sessions/{sid}")
    return Cell(store, endpoint, n, len(latencies), elapsed, latencies, errors)


async def page_path(base: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base) as http:
        sid = (await http.post("/api/v1/sessions", json={"preset": "seed-xor"})).json()["id"]
        r = await http.get(f"/s/{sid}")
        await http.delete(f"/api/v1/sessions/{sid}")
    if r.status_code == 200 and r.headers.get("content-type", "").startswith("text/html"):
        return "/s/{sid}", "page"
    return "/api/v1/sessions/{sid}", "GET state (no page yet)"


def bench(base: str, store: str, total: int, seconds: float, rate: float,
          repeat: int) -> list[Cell]:
    page, page_name = asyncio.run(page_path(base))
    runs: list[tuple[str, int, float | None]] = [
        (endpoint, n, None) for endpoint in ("healthz", "step", "train", "page")
        for n in CONCURRENCY]
    if rate:
        runs += [("step", 32, rate), ("page", 32, rate)]
    cells = []
    for endpoint, n, paced in runs:
        tries = [asyncio.run(run_cell(base, store, endpoint, page, n, total, seconds, paced))
                 for _ in range(repeat)]
        cell = sorted(tries, key=lambda c: c.rps)[len(tries) // 2]  # the median run
        cell.errors = sum(c.errors for c in tries)
        if endpoint == "page":
            cell.endpoint = page_name
        if paced:
            cell.endpoint += f" @ {paced:g}/s each"
        cells.append(cell)
        print(f"  {store:18} {cell.endpoint:32} {n:3} sessions: {cell.rps:7.0f} req/s "
              f"p50 {cell.pct(0.5):6.2f} ms p99 {cell.pct(0.99):6.2f} ms "
              f"errors {cell.errors}", flush=True)
    return cells


def table(cells: list[Cell]) -> str:
    ref = {(c.store, c.sessions): c.rps for c in cells if c.endpoint == "healthz"}
    lines = ["| store | endpoint | sessions | req/s | vs /healthz | p50 ms | p99 ms | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for c in cells:
        ratio = "" if "/s each" in c.endpoint else f"{c.rps / ref[(c.store, c.sessions)]:.0%}"
        lines.append(f"| {c.store} | {c.endpoint} | {c.sessions} | {c.rps:.0f} | "
                     f"{ratio} | {c.pct(0.5):.2f} | {c.pct(0.99):.2f} | {c.errors} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per cell, at most")
    parser.add_argument("--seconds", type=float, default=3.0, help="per cell, at most")
    parser.add_argument("--quick", action="store_true", help="300 requests / 1 s per cell")
    parser.add_argument("--rate", type=float, default=2.0,
                        help="also 32 sessions at this many requests/s each (0: skip)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per cell; the table shows the median run (errors: all)")
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    exit_on_sigterm()
    total, seconds = (300, 1.0) if args.quick else (args.requests, args.seconds)
    repeat = 1 if args.quick else args.repeat
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"client and servers share them", flush=True)
    cells: list[Cell] = []
    with app_server("memory", 1) as (base, _):
        cells += bench(base, "memory, 1 worker", total, seconds, args.rate, repeat)
    if not args.no_redis:
        with redis_server() as url, app_server(url, 2) as (base, _):
            cells += bench(base, "redis, 2 workers", total, seconds, args.rate, repeat)
    print()
    print(table(cells))
    errors = sum(c.errors for c in cells)
    print(f"\n{sum(c.requests for c in cells)} requests, {errors} errors")


if __name__ == "__main__":
    main()
