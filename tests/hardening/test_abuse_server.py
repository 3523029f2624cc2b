"""Issue #8 "done means", against a real server (``python -m app --port 0`` in a subprocess,
stopped by the fixture): a scripted battery of 500+ hostile requests across the API and the
pages gives no 5xx and no hang (every reply within its budget + 1 s) while the server's RSS
stays under its memory budget; a slow body is dropped; a gradient check stops when its client
goes away; and during a hostile request another session's GET stays fast (p99 < 500 ms)."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
MIB = 1 << 20
BUDGETS = {  # small budgets, so the test runs them out quickly
    "MEMORY_BUDGET": 160 * MIB,
    "SESSION_MAX_BYTES": 48 * MIB,
    "TRAIN_TIME_BUDGET": 0.5,
    "GRADCHECK_TIME_BUDGET": 3.0,
    # A check that cannot end in its budget would stop after 0.25 s on its estimate; here one
    # must outlive its client (test_gradcheck_stops_when_its_client_goes_away).
    "GRADCHECK_ESTIMATE_AFTER": 0,
    "BODY_READ_TIMEOUT": 2.0,
    "MAX_REPLY_BYTES": 8 * MIB,
}
OTHER = 1.5  # what any other request may take (seconds), before the + 1 s margin
WORST = {"layers": [2, 64, 64, 64, 64, 64, 64, 64, 64, 1],
         "dataset": {"name": "spiral", "samples": 5000, "test_ratio": 0}}


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    port: int
    baseline: int = 0
    peak: int = 0
    samples: list[int] = field(default_factory=list)

    def sample(self) -> int:
        value = rss(self.proc.pid)
        self.peak = max(self.peak, value)
        self.samples.append(value)
        return value

    @property
    def allowed(self) -> int:
        """The memory budget's meaning: the process at rest, plus the sessions it holds
        (memory_budget), plus one operation's peak (session_max_bytes)."""
        return self.baseline + int(BUDGETS["MEMORY_BUDGET"] + BUDGETS["SESSION_MAX_BYTES"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "BACKPROP_LAB_STORE": "memory", "MALLOC_ARENA_MAX": "2",
           **{f"BACKPROP_LAB_{k}": str(v) for k, v in BUDGETS.items()}}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app", "--port", "0"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        port = 0
        while not port:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + log.read_text()[-2000:])
            m = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log.read_text())
            port = int(m.group(1)) if m else 0
            time.sleep(0.05)
        srv = Server(proc, f"http://127.0.0.1:{port}", port)
        with httpx.Client(base_url=srv.base) as c:  # warm every code path once
            sid = c.post(f"{API}/sessions", json={"preset": "spiral"}).json()["id"]
            c.get(f"/s/{sid}")
            c.post(f"{API}/sessions/{sid}/train", json={"epochs": 2})
            c.delete(f"{API}/sessions/{sid}")
        srv.baseline = srv.sample()
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --- the battery ----------------------------------------------------------------------------
@dataclass
class Req:
    method: str
    url: str
    budget: float = OTHER
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    params: dict[str, str] | None = None


def sid_of(r: httpx.Response) -> str | None:
    try:
        return str(r.json()["id"]) if r.status_code == 201 else None
    except ValueError:
        return None


def hostile_values(rng: random.Random) -> Any:
    return rng.choice([
        10**400, -(10**30), 2**63, 2**64, 1.7e308, -1.7e308, 5e-324, "NaN", "x" * 5000, None,
        True, [], {}, [[]], [[1e308] * 64] * 4, "0x1p+1024", -1, 0, 65, 10**9 + 1, "∞",
        {"$gt": 1}, [2] * 200, "<script>alert(1)</script>",
    ])


def battery(c: httpx.Client, rng: random.Random) -> Iterator[Req]:
    """Yields the requests (some built from the replies to earlier ones)."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    js = {"content-type": "application/json"}
    # defect 2: the 117-byte worst case (refused), and the largest admitted shape, stepped
    for _ in range(30):
        yield Req("POST", f"{API}/sessions", json=WORST)
    heavy = []
    for _ in range(30):
        r = c.post(f"{API}/sessions", json={**WORST, "batch_size": 1000})
        assert r.status_code in (201, 503), r.text[:300]
        sid = sid_of(r)
        if sid:
            heavy.append(sid)
            yield Req("POST", f"{API}/sessions/{sid}/forward", json={"through": "all"})
            yield Req("POST", f"{API}/sessions/{sid}/backward", json={"through": "all"})
    assert heavy
    h = heavy[-1]
    # defect 3: huge replies
    yield Req("GET", f"{API}/sessions/{h}", params={"samples": "all"})
    yield Req("GET", f"{API}/sessions/{h}", params={"samples": ",".join(["0"] * 9999)})
    yield Req("GET", f"{API}/sessions/{h}", params={"history": str(10**9)})
    yield Req("GET", f"/s/{h}")
    yield Req("POST", f"/s/{h}/tick")
    for _ in range(3):
        yield Req("POST", "/", content=b"&".join([b"hidden=64"] * 100_000), headers=form)
    # defect 4 and 6: time
    yield Req("GET", f"{API}/sessions/{h}/gradcheck", budget=BUDGETS["GRADCHECK_TIME_BUDGET"])
    slow = sid_of(c.post(f"{API}/sessions", json={
        "layers": [2, 64, 64, 1], "batch_size": 1,
        "dataset": {"name": "spiral", "samples": 2500, "test_ratio": 0}}))
    assert slow
    for _ in range(3):
        yield Req("POST", f"{API}/sessions/{slow}/train", json={"epochs": 100000},
                  budget=BUDGETS["TRAIN_TIME_BUDGET"])
        yield Req("POST", f"/s/{slow}/tick", params={"n": "1000"})
    # defect 1 and 5: hostile imports, then every view of whatever was admitted
    base = c.get(f"{API}/sessions/{slow}/export").json()
    base["epoch"] = 5
    imported = []
    for history in (
        [{"epoch": 9007199254740992, "loss": 1}, {"epoch": 9007199254740994, "loss": 0.5}],
        [{"epoch": 0, "loss": 1.75e308}], [{"epoch": 10**400, "loss": 1}],
        [{"epoch": 10**17, "loss": 1}], [{"epoch": 2**63, "loss": 1}],
        [{"epoch": 2**64, "loss": 1}], [{"epoch": 0, "loss": 1.7e308, "test_loss": 1.7e308},
                                        {"epoch": 4, "loss": 5e-324}],
    ):
        r = c.post(f"{API}/sessions/import", json={**base, "history": history})
        assert r.status_code in (201, 422), r.text[:300]
        if sid_of(r):
            imported.append(sid_of(r))
        yield Req("POST", f"{API}/sessions/import", json={**base, "history": history})
    for key in ("epoch", "iteration", "batch_pos", "epoch_loss_sum", "epoch_test_loss"):
        for _ in range(3):
            yield Req("POST", f"{API}/sessions/import", json={**base, key: hostile_values(rng)})
    for sid in imported:
        yield Req("GET", f"/s/{sid}")
        yield Req("GET", f"/s/{sid}", params={"log": "1"})
        yield Req("POST", f"/s/{sid}/tick")
        yield Req("POST", f"{API}/sessions/{sid}/train", json={"epochs": 3},
                  budget=BUDGETS["TRAIN_TIME_BUDGET"])
    yield Req("POST", f"{API}/sessions", json={"layers": [2, 1], "dataset": {
        "X": [[0, 1]], "Y": [[1]], "X_test": [], "Y_test": []}})
    yield Req("GET", "/new", params={"preset": "p" * 100})
    # defect 9: duplicate keys, Host, etc.
    yield Req("POST", f"{API}/sessions", content=b'{"layers":[2,1],"layers":[2,64,1]}',
              headers=js)
    yield Req("POST", f"{API}/sessions", json={}, headers={"host": "evil.example"})
    # random fuzz over every route, API and pages
    small = [s for s in (sid_of(c.post(f"{API}/sessions", json={"preset": p}))
                         for p in ("seed-xor", "spiral", "gauss-softmax")) if s]
    keys = ["layers", "dataset", "learning_rate", "batch_size", "focus", "preset", "weights",
            "init", "regularization", "epochs", "through", "hidden_activation", "loss"]
    routes = ["/sessions", "/sessions/{s}", "/sessions/{s}/forward", "/sessions/{s}/backward",
              "/sessions/{s}/update", "/sessions/{s}/step", "/sessions/{s}/train",
              "/sessions/{s}/weights", "/sessions/{s}/reset", "/sessions/{s}/gradcheck",
              "/sessions/{s}/export", "/sessions/import"]
    pages = ["/", "/s/{s}", "/s/{s}/do", "/s/{s}/settings", "/s/{s}/tick", "/new"]
    fields = ["op", "epochs", "hidden", "learning_rate", "batch_size", "focus", "samples",
              "dataset", "reg_kind", "reg_rate", "action", "n", "sel", "init_scheme"]
    for i in range(400):
        s = rng.choice([*small, h, "nope", "x" * 300])
        if i % 2:
            url = API + rng.choice(routes).format(s=s)
            method = rng.choice(["GET", "POST", "PATCH", "PUT", "DELETE"]) if "{s}" in url \
                else "POST"
            if method == "DELETE" and s in small:
                method = "GET"
            body = {rng.choice(keys): hostile_values(rng) for _ in range(rng.randint(0, 3))}
            params = {rng.choice(["samples", "history", "epsilon"]): str(hostile_values(rng))
                      [:2000]}
            budget = (BUDGETS["TRAIN_TIME_BUDGET"] if url.endswith("/train") else
                      BUDGETS["GRADCHECK_TIME_BUDGET"] if url.endswith("/gradcheck") else OTHER)
            yield Req(method, url, budget=budget,
                      content=json.dumps(body, default=str).encode(), headers=js,
                      params=params)
        else:
            url = rng.choice(pages).format(s=s)
            pairs = [(rng.choice(fields), str(hostile_values(rng))[:500])
                     for _ in range(rng.randint(0, 8))]
            data = "&".join(f"{k}={v}" for k, v in pairs).encode()
            if url == "/new":
                yield Req("GET", url, params=dict(pairs[:1]) or {"preset": "x" * 70})
            elif url.startswith("/s/") and rng.random() < 0.3:
                yield Req("GET", url, params=dict(pairs[:3]))
            else:
                yield Req("POST", url, content=data, headers=form,
                          budget=BUDGETS["TRAIN_TIME_BUDGET"] + OTHER)


def test_hostile_battery_no_5xx_no_hang_rss_in_budget(server: Server) -> None:
    rng = random.Random(8)
    failures: list[str] = []
    count = 0
    with httpx.Client(base_url=server.base, timeout=30) as c:
        for req in battery(c, rng):
            t0 = time.monotonic()
            try:
                r = c.request(req.method, req.url, json=req.json, content=req.content,
                              headers=req.headers, params=req.params)
                status = r.status_code
            except httpx.HTTPError as e:
                status = 0
                failures.append(f"{req.method} {req.url}: {type(e).__name__}")
            took = time.monotonic() - t0
            count += 1
            if status >= 500:
                failures.append(f"{req.method} {req.url} → {status}: {r.text[:200]}")
            if took > req.budget + 1.0:
                failures.append(f"{req.method} {req.url} took {took:.2f} s "
                                f"(budget {req.budget} s)")
            server.sample()
    print(f"{count} requests; RSS baseline {server.baseline / MIB:.0f} MiB, peak "
          f"{server.peak / MIB:.0f} MiB, allowed {server.allowed / MIB:.0f} MiB")
    assert count >= 500
    assert not failures, failures[:10]
    assert server.peak < server.allowed, (server.peak / MIB, server.allowed / MIB)
    assert c.is_closed and server.proc.poll() is None


def test_a_body_sent_1_byte_of_100_is_dropped(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        t0 = time.monotonic()
        reply = sock.recv(4096)
        took = time.monotonic() - t0
        while chunk := sock.recv(4096):  # the server closes the connection after it
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"body_read_timeout" in reply
    assert took < BUDGETS["BODY_READ_TIMEOUT"] + 1.0


def test_gradcheck_stops_when_its_client_goes_away(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as c:
        sid = c.post(f"{API}/sessions", json={"layers": [2, 64, 64, 1], "dataset": {
            "name": "spiral", "samples": 1000, "test_ratio": 0}}).json()["id"]
    with pytest.raises(httpx.TimeoutException), httpx.Client(base_url=server.base,
                                                             timeout=0.5) as gone:
        gone.get(f"{API}/sessions/{sid}/gradcheck")  # the check needs more than its 3 s
    t0 = time.monotonic()
    with httpx.Client(base_url=server.base, timeout=30) as c:
        # The memory store serialises requests on one session: this waits for the check.
        assert c.get(f"{API}/sessions/{sid}", params={"history": "1"}).status_code == 200
    waited = time.monotonic() - t0
    assert waited < BUDGETS["GRADCHECK_TIME_BUDGET"] - 1.0, waited


def test_other_sessions_stay_fast_during_a_hostile_request(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as c:
        mine = c.post(f"{API}/sessions", json={"preset": "spiral"}).json()["id"]
        heavy = c.post(f"{API}/sessions", json={**WORST, "batch_size": 1000}).json()["id"]
        slow = c.post(f"{API}/sessions", json={
            "layers": [2, 64, 64, 1], "batch_size": 1,
            "dataset": {"name": "spiral", "samples": 2500, "test_ratio": 0}}).json()["id"]
    hostile = [
        ("POST", f"{API}/sessions/{slow}/train", {"json": {"epochs": 100000}}),
        ("GET", f"{API}/sessions/{heavy}/gradcheck", {}),
        ("POST", f"{API}/sessions/{heavy}/forward", {"json": {"through": "all"}}),
        ("POST", f"{API}/sessions/{heavy}/backward", {"json": {"through": "all"}}),
        ("GET", f"{API}/sessions/{heavy}", {"params": {"samples": "all"}}),
        ("POST", "/", {"content": b"&".join([b"hidden=64"] * 100_000), "headers": {
            "content-type": "application/x-www-form-urlencoded"}}),
        ("GET", f"/s/{heavy}", {}),
        ("POST", f"/s/{slow}/tick", {"params": {"n": "1000"}}),
    ]
    stop = threading.Event()

    def attack() -> None:
        with httpx.Client(base_url=server.base, timeout=30) as c:
            while not stop.is_set():
                for method, url, kw in hostile:
                    if stop.is_set():
                        return
                    c.request(method, url, **kw)

    attacker = threading.Thread(target=attack)
    attacker.start()
    times = []
    try:
        with httpx.Client(base_url=server.base, timeout=30) as c:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                assert c.get(f"{API}/sessions/{mine}").status_code == 200
                times.append(time.monotonic() - t0)
                time.sleep(0.02)
    finally:
        stop.set()
        attacker.join(60)
    times.sort()
    p99 = times[int(len(times) * 0.99) - 1]
    print(f"other session's GET during hostile requests: {len(times)} requests, "
          f"p50 {times[len(times) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    assert len(times) >= 50 and p99 < 0.5, (len(times), p99, times[-5:])


def test_oversized_headers_are_refused_by_the_uvicorn_settings(server: Server) -> None:
    """`backprop-lab` passes h11_max_incomplete_event_size (16 KiB, h11's own default made an
    explicit setting) to uvicorn: a request line plus headers beyond it is refused instead of
    buffered."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # Headers that never end: without the cap they would be buffered for ever.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000)
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 4"), reply[:100]
