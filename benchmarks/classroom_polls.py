"""A class poll: N students (default 200) behind one address follow the teacher's watch page
stream (/w/{id}/events, the HTML frames and poll regions phones receive), the teacher asks,
every student answers within 2 s (a random moment in that window, with a random per-browser
token), the teacher reveals once every answer is in, and every student fetches their own
result.

Measured: the answer latency (p50, p99; target p99 < 250 ms), the time for the open and the
revealed poll to reach every student's stream, the reveal's and the results' latency, and how
many students got their result (target: all). Reference, in the same process and server: one
student answering alone (the ratio p99 / alone shows what the class costs). One worker on the
memory store, then two workers on Redis (benchmarks/servers.py starts and stops them); the load
generator runs on the same machine. Per-address limits are set off explicitly
(watch_max_per_client=0, create_rate_limit=0): they are not what this measures.

Run: ``python -m benchmarks.classroom_polls`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.servers import app_server, exit_on_sigterm, redis_server

S = "/api/v1/sessions"
TARGET_P99 = 0.250
WINDOW = 2.0  # students answer within this many seconds of seeing the poll
POLL_ID = re.compile(r'data-poll="([^"]+)" data-status="([a-z]+)"')


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    ys = sorted(xs)
    return ys[min(len(ys) - 1, round(q * (len(ys) - 1)))]


@dataclass
class Student:
    token: str = field(default_factory=lambda: secrets.token_hex(12))
    seen: dict[str, float] = field(default_factory=dict)  # status -> perf_counter
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    revealed: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    answer_s: float | None = None
    result: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


async def follow(client: httpx.AsyncClient, wid: str, st: Student) -> None:
    """The watch page's stream, as a phone receives it: frames, then poll regions."""
    async with client.stream("GET", f"/w/{wid}/events") as r:
        if r.status_code != 200:
            st.errors.append(f"stream {r.status_code}")
            st.ready.set()
            return
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                st.ready.set()
            elif line.startswith("data:") and event == "poll":
                m = POLL_ID.search(line)
                if m:
                    st.seen.setdefault(m.group(2), time.perf_counter())
                    (st.opened if m.group(2) == "open" else st.revealed).set()
                    if m.group(2) == "revealed":
                        return


async def student(client: httpx.AsyncClient, wid: str, pid_box: list[str], st: Student,
                  truth_guess: float) -> None:
    await st.opened.wait()
    await asyncio.sleep(random.uniform(0, WINDOW * 0.9))
    pid = pid_box[0]
    t0 = time.perf_counter()
    r = await client.post(f"/api/v1/watch/{wid}/polls/{pid}/answers",
                          json={"student": st.token, "answer": truth_guess})
    st.answer_s = time.perf_counter() - t0
    if r.status_code != 200:
        st.errors.append(f"answer {r.status_code} {r.text[:100]}")
    await st.revealed.wait()
    r = await client.get(f"/api/v1/watch/{wid}/polls/{pid}", params={"student": st.token})
    if r.status_code == 200:
        st.result = r.json()
    else:
        st.errors.append(f"result {r.status_code}")


async def healthz(client: httpx.AsyncClient) -> float:
    await asyncio.sleep(random.uniform(0, WINDOW * 0.9))
    t0 = time.perf_counter()
    r = await client.get("/healthz")
    assert r.status_code == 200
    return time.perf_counter() - t0


async def run(base: str, n: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=n + 20, max_keepalive_connections=n + 20)
    # The streams on a client (a connection pool) of their own: httpx scans its pool per
    # request, and 200 busy streaming connections in it slowed every other request down.
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client, \
            httpx.AsyncClient(base_url=base, timeout=None, limits=limits) as streaming:
        sid = (await client.post(S, json={"preset": "xor-bias"})).json()["id"]
        wid = (await client.post(f"{S}/{sid}/watch")).json()["watch_id"]
        # Reference: one student alone answers a poll 20 times (same server, same process).
        alone = []
        pid = (await client.post(f"{S}/{sid}/polls", json={"quantity": {"field": "loss"},
                                                           "kind": "number"})).json()["poll_id"]
        for k in range(20):
            t0 = time.perf_counter()
            r = await client.post(f"/api/v1/watch/{wid}/polls/{pid}/answers",
                                  json={"student": f"reference-{k:04d}", "answer": 1.0})
            alone.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
        await client.post(f"{S}/{sid}/polls/{pid}/reveal")
        await client.post(f"{S}/{sid}/undo")
        # The class follows.
        students = [Student() for _ in range(n)]
        streams = [asyncio.create_task(follow(streaming, wid, st)) for st in students]
        await asyncio.wait_for(asyncio.gather(*(st.ready.wait() for st in students)), 60)
        # Reference under the same load: each student asks for /healthz (the cheapest request
        # there is) at a random moment of the same window, with the streams open.
        health = await asyncio.gather(*(healthz(client) for _ in range(n)))
        pid_box: list[str] = []
        workers = [asyncio.create_task(student(client, wid, pid_box, st, random.gauss(0.5, 0.2)))
                   for st in students]
        t_ask = time.perf_counter()
        r = await client.post(f"{S}/{sid}/polls", json={"quantity": {"field": "loss"},
                                                         "kind": "number", "tolerance": 0.1})
        asked_s = time.perf_counter() - t_ask
        pid_box.append(r.json()["poll_id"])
        t_asked = time.perf_counter()
        # The teacher reveals once every answer is in (at most 20 s; a late answer is a 409).
        await asyncio.sleep(WINDOW)
        deadline = time.perf_counter() + 20
        while (any(st.answer_s is None and not st.errors for st in students)
               and time.perf_counter() < deadline):
            await asyncio.sleep(0.05)
        t_rev = time.perf_counter()
        revealed = (await client.post(f"{S}/{sid}/polls/{pid_box[0]}/reveal")).json()
        reveal_s = time.perf_counter() - t_rev
        t_revealed = time.perf_counter()
        _, pending = await asyncio.wait(workers, timeout=30)
        for t in [*pending, *streams]:
            t.cancel()
        answers = [st.answer_s for st in students if st.answer_s is not None]
        reach_open = [st.seen["open"] - t_asked for st in students if "open" in st.seen]
        reach_rev = [st.seen["revealed"] - t_revealed for st in students
                     if "revealed" in st.seen]
        got = [st for st in students if st.result is not None
               and st.result.get("status") == "revealed" and "correct" in st.result]
        errors = [e for st in students for e in st.errors]
        return {
            "students": n, "answers counted": revealed.get("answers"),
            "students with their result": len(got), "errors": len(errors),
            "first errors": "; ".join(errors[:3]) or "—",
            "answer p50 ms": 1000 * pct(answers, 0.5), "answer p99 ms": 1000 * pct(answers, 0.99),
            "alone answer p50 ms (reference)": 1000 * statistics.median(alone),
            "answer p99 / alone p50": pct(answers, 0.99) / statistics.median(alone),
            "healthz p50 ms, same load (reference)": 1000 * pct(health, 0.5),
            "healthz p99 ms, same load (reference)": 1000 * pct(health, 0.99),
            "answer p99 / healthz p99": pct(answers, 0.99) / pct(health, 0.99),
            "open poll reached all, s after ask": max(reach_open, default=float("nan")),
            "reveal reached all, s after reply": max(reach_rev, default=float("nan")),
            "ask ms": 1000 * asked_s, "reveal ms": 1000 * reveal_s,
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=("memory", "redis"), default=None)
    a = p.parse_args()
    if a.quick:
        a.students = 20
    exit_on_sigterm()
    settings = {"create_rate_limit": "0", "watch_max_per_client": "0",
                "watch_max_per_session": str(a.students + 10)}
    runs: list[tuple[str, dict[str, Any]]] = []
    if a.only != "redis":
        with app_server("memory", 1, **settings) as (base, _):
            runs.append(("memory, 1 worker", asyncio.run(run(base, a.students))))
    if a.only != "memory":
        with redis_server() as url, app_server(url, 2, **settings) as (base, _):
            runs.append(("Redis, 2 workers", asyncio.run(run(base, a.students))))
    print("## classroom_polls\n")
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
          "(1 / 5 / 15 min) at the end: the server and this load generator share them.\n")
    print("| measure | " + " | ".join(label for label, _ in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for key in runs[0][1]:
        cells = []
        for _, out in runs:
            v = out[key]
            cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
        print(f"| {key} | " + " | ".join(cells) + " |")
    for label, out in runs:
        ok = (out["students with their result"] == out["students"] and not out["errors"]
              and out["answer p99 ms"] < 1000 * TARGET_P99)
        print(f"\n{label}: every student answered and got the result, answer p99 < 250 ms: "
              f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
