"""A class pressing Play: N simulated students, each on their own `spiral` session (each with
its own initial weights), each page playing at 10 epochs per tick as the browser does:

- ``--transport stream`` (the default, the page today): one GET /s/{id}/play?n=10 stream per
  student, gzipped, the server pushing a frame every 250 ms (app/web/routes/play.py). A tick's
  latency is from when the server's schedule had it due (the ``: due`` comment of each frame,
  wall clock: the load generator runs on the same machine) to its frame's arrival;
- ``--transport poll`` (the page before issue #22, still the fallback): POST
  /s/{id}/tick?n=10 250 ms after the previous reply, echoing the region hashes it holds (the
  hidden ``have`` input); latency is request to reply.

For each N: ticks per second per student (the slowest and the median), the tick latency
(p50, p99), the mean and largest frame (decoded HTML) and the mean bytes on the wire per
frame, the server's CPU time per tick (all its processes, from /proc: the cost of a tick
whatever else shares the machine), errors, and the load average (1 min) at the end of the
run. Over --seconds after a short warm-up. The target (issues #13, #22): every student ≥ 3.5
ticks/s and p99 < 250 ms. One server process on the memory store, then Redis with 2 workers
(benchmarks/servers.py starts and stops them); the load generator runs on the same machine,
in this process.

Run: ``python -m benchmarks.classroom`` (N = 30, 60, 80, 100 on memory, 60 on Redis, then
narrows the largest N that holds); ``--transport poll`` for the old way; ``--quick`` for a
smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.servers import (
    ROOT,
    app_server,
    exit_on_sigterm,
    group_cpu_seconds,
    redis_server,
)

POLL = 0.25
TARGET_RATE, TARGET_P99 = 3.5, 0.250
HAVE = re.compile(r'id="tick-have" name="have" value="([^"]*)"')


@dataclass
class Result:
    label: str
    n: int
    seconds: float
    ticks: list[int] = field(default_factory=list)  # per student
    latencies: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # decoded HTML per frame
    wire: int = 0  # bytes received on the wire in the window (streams), else 0
    errors: int = 0
    cpu: float = 0.0  # server CPU seconds (all its processes) during the measured window
    load: float = 0.0  # load average (1 min) at the end of the window

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("inf")

    @property
    def rates(self) -> list[float]:
        return [t / self.seconds for t in self.ticks]

    @property
    def ok(self) -> bool:
        return (not self.errors and min(self.rates) >= TARGET_RATE
                and self.pct(0.99) < TARGET_P99)

    def row(self) -> str:
        rates = self.rates
        frames = max(1, len(self.sizes))
        wire = f"{self.wire / frames / 1024:.1f}" if self.wire else "—"
        return (f"| {self.label} | {self.n} | {min(rates):.2f} | {statistics.median(rates):.2f} "
                f"| {self.pct(0.5) * 1000:.0f} | {self.pct(0.99) * 1000:.0f} "
                f"| {statistics.mean(self.sizes or [0]) / 1024:.1f} "
                f"| {max(self.sizes or [0]) / 1024:.1f} | {wire} "
                f"| {self.cpu / max(1, sum(self.ticks)) * 1000:.1f} | {self.errors} "
                f"| {self.load:.1f} | {'yes' if self.ok else 'no'} |")


HEADER = ("| server | students | ticks/s, slowest | ticks/s, median | p50 ms | p99 ms "
          "| KB/frame | largest frame KB | KB/frame on the wire | server CPU ms/tick | errors "
          "| load avg | target met |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
          "|---:|---|")


async def polling_student(http: httpx.AsyncClient, sid: str, measure_from: float,
                          end: float, out: Result, k: int) -> None:
    have = ""
    # Students do not press Play in the same millisecond.
    await asyncio.sleep((k * 0.0371) % POLL)
    while (now := time.perf_counter()) < end:
        try:
            r = await http.post(f"/s/{sid}/tick?n=10", data={"have": have},
                                headers={"HX-Request": "true"})
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok, r = False, None
        done = time.perf_counter()
        if now >= measure_from and done <= end:
            if ok and r is not None:
                out.ticks[k] += 1
                out.latencies.append(done - now)
                out.sizes.append(len(r.content))
            else:
                out.errors += 1
        if ok and r is not None:
            m = HAVE.search(r.text)
            have = m.group(1) if m else ""
        await asyncio.sleep(POLL)


async def streaming_student(http: httpx.AsyncClient, sid: str, measure_from: float,
                            end: float, out: Result, k: int) -> None:
    """The page's EventSource: one stream, frames pushed by the server. Events are split on
    their blank line as bytes (decoding 30 KB frames as text lines would make the load
    generator, on the same cores, a larger share of the load than the browsers it stands
    for)."""
    await asyncio.sleep((k * 0.0371) % POLL)
    try:
        async with http.stream("GET", f"/s/{sid}/play?n=10",
                               headers={"Accept-Encoding": "gzip"}) as r:
            if r.status_code != 200:
                out.errors += 1
                return
            buf, wire0 = b"", None
            async for chunk in r.aiter_bytes():
                now = time.perf_counter()
                if now >= end:
                    break
                buf += chunk
                *events, buf = buf.split(b"\n\n")
                for ev in events:
                    due_line, _, rest = ev.partition(b"\n")
                    if not rest.startswith(b"event: frame\n"):
                        out.errors += 1  # stop / poll: Play ended, not expected here
                        return
                    if now < measure_from:
                        continue
                    if wire0 is None:
                        wire0 = r.num_bytes_downloaded
                    out.ticks[k] += 1
                    out.latencies.append(time.time() - float(due_line[6:]))  # ": due …"
                    # The frame's HTML: its data lines without their "data: " prefixes.
                    body = rest[len(b"event: frame\n"):]
                    out.sizes.append(len(body) - 6 * (body.count(b"\ndata: ") + 1))
            if wire0 is not None:
                out.wire += r.num_bytes_downloaded - wire0
    except httpx.HTTPError:
        out.errors += 1


async def server_cpu(pgid: int, measure_from: float, end: float, out: Result) -> None:
    await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
    before = group_cpu_seconds(pgid)
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    out.cpu = group_cpu_seconds(pgid) - before
    out.load = os.getloadavg()[0]


async def classroom(base: str, pgid: int, label: str, n: int, seconds: float, warmup: float,
                    transport: str) -> Result:
    out = Result(label, n, seconds, ticks=[0] * n)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    student = streaming_student if transport == "stream" else polling_student
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(
            httpx.AsyncClient(base_url=base, timeout=30, limits=limits)) for _ in range(n)]
        ids = []
        for k, http in enumerate(clients):
            # Each student's own initial weights (seed k + 1): no two sessions share a
            # weights version, so no heatmap is drawn once for two students.
            r = await http.post("/api/v1/sessions",
                                json={"preset": "spiral", "init": {"seed": k + 1}})
            r.raise_for_status()
            ids.append(r.json()["id"])
        start = time.perf_counter()
        measure_from = start + warmup
        end = measure_from + seconds
        await asyncio.gather(server_cpu(pgid, measure_from, end, out),
                             *(student(http, sid, measure_from, end, out, k)
                               for k, (http, sid) in enumerate(zip(clients, ids, strict=True))))
        for http, sid in zip(clients, ids, strict=True):
            await http.delete(f"/api/v1/sessions/{sid}")
    return out


def run(base: str, pgid: int, label: str, sizes: list[int], seconds: float, warmup: float,
        bisect: int, transport: str) -> list[Result]:
    results = []
    for n in sizes:
        results.append(asyncio.run(classroom(base, pgid, label, n, seconds, warmup,
                                             transport)))
        print(results[-1].row(), flush=True)
    # Narrow the largest N that meets the target between the last pass and the first failure.
    passing = [r.n for r in results if r.ok]
    failing = [r.n for r in results if not r.ok and (not passing or r.n > max(passing))]
    lo, hi = (max(passing) if passing else 0), (min(failing) if failing else None)
    for _ in range(bisect):
        if hi is None or hi - lo <= 2:
            break
        mid = (lo + hi) // 2
        r = asyncio.run(classroom(base, pgid, label, mid, seconds, warmup, transport))
        print(r.row(), flush=True)
        results.append(r)
        lo, hi = (mid, hi) if r.ok else (lo, mid)
    print(f"largest N meeting the target ({label}): {lo if lo else 'none tested'}"
          + (f" (fails at {hi})" if hi is not None else ""), flush=True)
    return results


def wait_for_kernel(base: str, timeout: float = 120.0) -> None:
    """Until every worker says it trains on the compiled kernel (20 replies in a row)."""
    deadline, streak = time.monotonic() + timeout, 0
    while streak < 20:
        kernel = httpx.get(base + "/healthz", timeout=5).json().get("kernel")
        streak = streak + 1 if kernel == "numba" else 0
        if time.monotonic() > deadline:
            raise RuntimeError(f"the compiled kernel is not ready: {kernel}")
        time.sleep(0.05)


def commit() -> str:
    """The checkout's commit (what docs/performance.md names with each figure)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", default="30,60,80,100",
                        help="class sizes on one process with the memory store")
    parser.add_argument("--redis-students", default="60",
                        help="class sizes on Redis with 2 workers")
    parser.add_argument("--transport", choices=("stream", "poll"), default="stream",
                        help="stream: the page's Play stream (default); poll: POST /tick "
                        "250 ms after each reply (before issue #22, and the fallback)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--bisect", type=int, default=2, help="extra runs to narrow the largest N")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--compare", metavar="CHECKOUT",
                        help="also run the class on another checkout (e.g. ../main) first, "
                        "polling (a checkout before issue #22 has no stream)")
    parser.add_argument("--quick", action="store_true", help="N = 5, 3 s: a smoke run")
    args = parser.parse_args()
    exit_on_sigterm()
    sizes = [int(s) for s in args.students.split(",")]
    redis_sizes = [int(s) for s in args.redis_students.split(",")]
    if args.quick:
        sizes, redis_sizes, args.seconds, args.warmup, args.bisect = [5], [5], 3.0, 1.0, 0
    print(f"commit {commit()}; {machine()}; transport: {args.transport}; load average "
          f"before: {os.getloadavg()[0]:.2f}")
    print(HEADER)
    if args.compare:  # the same class on another checkout first, under the same load
        with app_server("memory", 1, root=Path(args.compare)) as (base, proc):
            wait_for_kernel(base)
            run(base, proc.pid, f"memory, 1 process ({args.compare}, poll)", sizes,
                args.seconds, args.warmup, 0, "poll")
    with app_server("memory", 1) as (base, proc):
        wait_for_kernel(base)  # compiled (or loaded from numba's cache) in the background
        run(base, proc.pid, f"memory, 1 process, {args.transport}", sizes, args.seconds,
            args.warmup, args.bisect, args.transport)
    if not args.no_redis:
        with redis_server() as url, app_server(url, 2) as (base, proc):
            wait_for_kernel(base)
            run(base, proc.pid, f"Redis, 2 workers, {args.transport}", redis_sizes,
                args.seconds, args.warmup, 0, args.transport)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
