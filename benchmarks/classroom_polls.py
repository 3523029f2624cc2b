"""A class poll: N students (default 200) behind one address follow the teacher's watch page
stream (/w/{id}/events, the HTML frames and poll regions phones receive), the teacher asks,
every student answers within 2 s (a random moment in that window, with a random per-browser
token), the teacher reveals once every answer is in, and every student fetches their own
result.

Measured over --rounds polls asked one after another: the answer latency (p50, p99; target
p99 < 250 ms), the time for the open and the revealed poll to reach every student's stream, the
ask's and the reveal's latency, and how many students got their result (target: all).
Reference, in the same windows: one student in ten also asks for /healthz (the cheapest
request) at another random moment, so answer p99 / healthz p99 says what an answer costs beyond the
machine's own load. One worker on the memory store, then two workers on Redis
(benchmarks/servers.py starts and stops them); the load generator runs on the same machine.
Per-address limits are set off explicitly (watch_max_per_client=0, create_rate_limit=0): they
are not what this measures.

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
    # (poll id, status) -> when this student's stream showed it, and an event to wait on
    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    events: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)
    last: float = 0.0  # when this stream last received anything

    def event(self, pid: str, status: str) -> asyncio.Event:
        return self.events.setdefault((pid, status), asyncio.Event())


@dataclass
class Round:
    answers: list[float] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)  # the same window's reference
    results: int = 0
    counted: int = 0
    reach_open: float = float("nan")
    reach_revealed: float = float("nan")
    ask_s: float = 0.0
    reveal_s: float = 0.0


async def follow(client: httpx.AsyncClient, wid: str, st: Student) -> None:
    """The watch page's stream, as a phone receives it: frames, then poll regions."""
    async with client.stream("GET", f"/w/{wid}/events") as r:
        if r.status_code != 200:
            st.errors.append(f"stream {r.status_code}")
            st.ready.set()
            return
        event = None
        async for line in r.aiter_lines():
            st.last = time.perf_counter()
            if line.startswith("event:"):
                event = line[6:].strip()
                st.ready.set()
            elif line.startswith("data:") and event == "poll":
                m = POLL_ID.search(line)
                if m:
                    st.seen.setdefault((m.group(1), m.group(2)), time.perf_counter())
                    st.event(m.group(1), m.group(2)).set()


async def student(client: httpx.AsyncClient, wid: str, pid: str, st: Student, rnd: Round,
                  guess: float, reference: bool) -> None:
    """Sees the poll, answers within the window, waits for the reveal, fetches the result;
    one student in ten also asks for /healthz at another random moment of the window (the
    reference, adding a tenth to the load rather than doubling it)."""
    await st.event(pid, "open").wait()
    if reference:
        await asyncio.gather(answer(client, wid, pid, st, rnd, guess), healthz(client, rnd))
    else:
        await answer(client, wid, pid, st, rnd, guess)
    await st.event(pid, "revealed").wait()
    r = await client.get(f"/api/v1/watch/{wid}/polls/{pid}", params={"student": st.token})
    if r.status_code == 200 and r.json().get("status") == "revealed" and "correct" in r.json():
        rnd.results += 1
    else:
        st.errors.append(f"result {r.status_code}")


async def answer(client: httpx.AsyncClient, wid: str, pid: str, st: Student, rnd: Round,
                 guess: float) -> None:
    await asyncio.sleep(random.uniform(0, WINDOW * 0.9))
    t0 = time.perf_counter()
    r = await client.post(f"/api/v1/watch/{wid}/polls/{pid}/answers",
                          json={"student": st.token, "answer": guess})
    rnd.answers.append(time.perf_counter() - t0)
    if r.status_code != 200:
        st.errors.append(f"answer {r.status_code} {r.text[:100]}")


async def healthz(client: httpx.AsyncClient, rnd: Round) -> None:
    await asyncio.sleep(random.uniform(0, WINDOW * 0.9))
    t0 = time.perf_counter()
    r = await client.get("/healthz")
    rnd.healthz.append(time.perf_counter() - t0)
    assert r.status_code == 200


async def one_round(client: httpx.AsyncClient, sid: str, wid: str, students: list[Student]
                    ) -> Round:
    rnd = Round()
    t0 = time.perf_counter()
    r = await client.post(f"{S}/{sid}/polls", json={"quantity": {"field": "loss"},
                                                     "kind": "number", "tolerance": 0.1})
    rnd.ask_s = time.perf_counter() - t0
    assert r.status_code == 201, r.text
    pid, t_asked = r.json()["poll_id"], time.perf_counter()
    tasks = [asyncio.create_task(student(client, wid, pid, st, rnd, random.gauss(0.5, 0.2),
                                         k % 10 == 0))
             for k, st in enumerate(students)]
    # The teacher reveals once every answer is in (at most 20 s; a late answer is a 409).
    await asyncio.sleep(WINDOW)
    deadline = time.perf_counter() + 20
    while len(rnd.answers) < len(students) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    revealed = (await client.post(f"{S}/{sid}/polls/{pid}/reveal")).json()
    rnd.reveal_s, t_revealed = time.perf_counter() - t0, time.perf_counter()
    rnd.counted = revealed.get("answers", 0)
    _, pending = await asyncio.wait(tasks, timeout=30)
    for t in pending:
        t.cancel()
    opened = [st.seen[(pid, "open")] - t_asked for st in students if (pid, "open") in st.seen]
    shown = [st.seen[(pid, "revealed")] - t_revealed for st in students
             if (pid, "revealed") in st.seen]
    rnd.reach_open = max(opened) if len(opened) == len(students) else float("inf")
    rnd.reach_revealed = max(shown) if len(shown) == len(students) else float("inf")
    await client.post(f"{S}/{sid}/undo")  # the same value can be asked again
    await settle(students)
    return rnd


async def settle(students: list[Student], quiet: float = 1.0, most: float = 30.0) -> None:
    """Wait until every stream has been quiet for a second: the reveal's and the undo's frames
    (the whole watch page, ~50 KB each, to every student) are parsed here in one process, and
    must not overlap the next round's answers."""
    deadline = time.perf_counter() + most
    await asyncio.sleep(quiet)
    while (time.perf_counter() < deadline
           and max(st.last for st in students) > time.perf_counter() - quiet):
        await asyncio.sleep(0.1)


async def run(base: str, n: int, rounds: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=n + 20, max_keepalive_connections=n + 20)
    # The streams on a client (a connection pool) of their own: httpx scans its pool per
    # request, and 200 busy streaming connections in it slowed every other request down.
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client, \
            httpx.AsyncClient(base_url=base, timeout=None, limits=limits) as streaming:
        sid = (await client.post(S, json={"preset": "xor-bias"})).json()["id"]
        wid = (await client.post(f"{S}/{sid}/watch")).json()["watch_id"]
        students = [Student() for _ in range(n)]
        streams = [asyncio.create_task(follow(streaming, wid, st)) for st in students]
        await asyncio.wait_for(asyncio.gather(*(st.ready.wait() for st in students)), 60)
        await settle(students)
        done = [await one_round(client, sid, wid, students) for _ in range(rounds)]
        for t in streams:
            t.cancel()
        errors = [e for st in students for e in st.errors]
        answers = [x for r in done for x in r.answers]
        health = [x for r in done for x in r.healthz]
        per_round = [pct(r.answers, 0.99) for r in done]
        return {
            "rounds × students": f"{rounds} × {n}",
            "answers counted (every round)": "/".join(str(r.counted) for r in done),
            "students with their result": "/".join(str(r.results) for r in done),
            "errors": len(errors), "first errors": "; ".join(errors[:3]) or "—",
            "answer p50 ms": 1000 * pct(answers, 0.5),
            "answer p99 ms (all rounds)": 1000 * pct(answers, 0.99),
            "answer p99 ms per round": " / ".join(f"{1000 * x:.0f}" for x in per_round),
            "healthz p50 ms, same windows (reference)": 1000 * pct(health, 0.5),
            "healthz p99 ms, same windows (reference)": 1000 * pct(health, 0.99),
            "answer p99 / healthz p99": pct(answers, 0.99) / pct(health, 0.99),
            "open poll reached all (s, worst round)": max(r.reach_open for r in done),
            "reveal reached all (s, worst round)": max(r.reach_revealed for r in done),
            "ask ms (median)": 1000 * statistics.median(r.ask_s for r in done),
            "reveal ms (median)": 1000 * statistics.median(r.reveal_s for r in done),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3, help="polls asked one after another")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=("memory", "redis"), default=None)
    a = p.parse_args()
    if a.quick:
        a.students, a.rounds = 20, 1
    exit_on_sigterm()
    settings = {"create_rate_limit": "0", "watch_max_per_client": "0",
                "watch_max_per_session": str(a.students + 10)}
    runs: list[tuple[str, dict[str, Any]]] = []
    if a.only != "redis":
        with app_server("memory", 1, **settings) as (base, _):
            runs.append(("memory, 1 worker", asyncio.run(run(base, a.students, a.rounds))))
    if a.only != "memory":
        with redis_server() as url, app_server(url, 2, **settings) as (base, _):
            runs.append(("Redis, 2 workers", asyncio.run(run(base, a.students, a.rounds))))
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
        everyone = all(x == str(a.students) for x in out["students with their result"].split("/"))
        p99 = out["answer p99 ms (all rounds)"]
        ok = everyone and not out["errors"] and p99 < 1000 * TARGET_P99
        print(f"\n{label}: every student answered and got the result, answer p99 < 250 ms: "
              f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
