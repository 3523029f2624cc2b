"""Results are a function of the requests alone (issue #17): the same 300 mixed requests
(steps, trains and undos on a spiral session, which trains on the compiled kernel, and on the
lesson's seed-xor, which trains on NumPy) give bit-identical replies on a server started cold
(numba compiling in the background while the requests arrive), on one fully warm, and on two
Redis workers. JSON floats round-trip exactly, so equal replies are equal bits.

Each server is a real ``python -m app`` subprocess on port 0 with ``kernel = auto`` (the
production default; the rest of the suite runs on NumPy), stopped afterwards."""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.packaging.server import serving

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 300

Request = tuple[str, str, dict[str, Any] | None]  # (session "A"/"B", path suffix, JSON body)


def script() -> list[Request]:
    """300 requests, the same every run: mostly steps, some trains, a few undos."""
    rng = random.Random(17)
    out: list[Request] = []
    for _ in range(REQUESTS):
        who = rng.choice("AB")
        kind = rng.choices(["step", "train", "undo"], weights=[6, 3, 1])[0]
        if kind == "train":  # small enough never to reach train_time_budget
            out.append((who, "train", {"epochs": rng.randint(1, 4 if who == "A" else 40)}))
        else:
            out.append((who, kind, None))
    return out


def env(cache: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_LAB_")}
    return {**clean, "BACKPROP_LAB_KERNEL": "auto", "NUMBA_CACHE_DIR": str(cache)}


def kernel(base: str) -> str:
    return str(httpx.get(base + "/healthz", timeout=10).json()["kernel"])


def drive(base: str) -> list[tuple[int, Any]]:
    """Create the two sessions, send the script; every reply's status and body (without the
    session id). A 503 (the compiled kernel still compiling) is retried as a client would."""
    replies: list[tuple[int, Any]] = []
    limits = httpx.Limits(max_keepalive_connections=0)  # spread over the workers
    with httpx.Client(base_url=base + "/api/v1", timeout=30, limits=limits) as http:
        ids = {}
        for who, preset in (("A", "spiral"), ("B", "seed-xor")):
            r = http.post("/sessions", json={"preset": preset})
            assert r.status_code == 201, r.text
            ids[who] = r.json()["id"]
            replies.append((r.status_code, {**r.json(), "id": who}))
        for who, op, body in script():
            deadline = time.monotonic() + 120
            while True:
                r = http.post(f"/sessions/{ids[who]}/{op}", json=body)
                if r.status_code != 503:
                    break
                assert "compiling" in r.text and "Retry-After" in r.headers, r.text
                assert time.monotonic() < deadline, "the compiled kernel never became ready"
                time.sleep(0.2)
            data = r.json()
            replies.append((r.status_code, {**data, "id": who} if "id" in data else data))
        for who in "AB":
            r = http.get(f"/sessions/{ids[who]}", params={"history": "all"})
            replies.append((r.status_code, {**r.json(), "id": who}))
    return replies


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("numba-cache-warm")


@pytest.fixture(scope="module")
def warm_replies(warm_cache: Path) -> list[tuple[int, Any]]:
    """The reference: one memory-store process whose compiled kernel is loaded before the
    first request."""
    with serving([sys.executable, "-m", "app", "--port", "0"], ROOT, env(warm_cache)) as base:
        deadline = time.monotonic() + 120
        while kernel(base) != "numba":
            assert time.monotonic() < deadline, "the compiled kernel did not load"
            time.sleep(0.2)
        replies = drive(base)
    created = replies[0][1]
    assert created["config"]["kernel"] == "compiled"  # spiral: the compiled kernel (auto)
    assert replies[1][1]["config"]["kernel"] == "numpy"  # the lesson: bit for bit its loop
    trains = [i for i, (_, op, _b) in enumerate(script()) if op == "train"]
    assert len(trains) > 50 and replies[-2][1]["epoch"] > 20  # the script really trains
    return replies


def test_a_cold_server_gives_what_a_warm_one_gives(
        warm_replies: list[tuple[int, Any]], tmp_path: Path) -> None:
    cold_cache = tmp_path / "numba-cache-cold"  # empty: this server compiles from scratch
    with serving([sys.executable, "-m", "app", "--port", "0"], ROOT, env(cold_cache)) as base:
        assert kernel(base) == "numpy"  # still compiling when the requests start
        replies = drive(base)
        after = kernel(base)
    assert len(replies) == len(warm_replies)
    for i, (got, want) in enumerate(zip(replies, warm_replies, strict=True)):
        assert got == want, f"reply {i}"
    assert after == "numba"  # the requests waited for it (and so the compile finished)


@pytest.mark.redis
def test_two_redis_workers_give_what_one_memory_process_gives(
        warm_replies: list[tuple[int, Any]], warm_cache: Path, redis_url: str) -> None:
    command = [sys.executable, "-m", "app", "--port", "0", "--workers", "2", "--store",
               redis_url]
    with serving(command, ROOT, env(warm_cache)) as base:
        deadline = time.monotonic() + 30
        while True:  # the supervisor logs its address before the workers accept
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the workers did not start"
                time.sleep(0.1)
        replies = drive(base)
        health = httpx.get(base + "/healthz", timeout=10).json()
    assert health["store"] == "redis" and health["sessions"] == 2
    assert len(replies) == len(warm_replies)
    for i, (got, want) in enumerate(zip(replies, warm_replies, strict=True)):
        assert got == want, f"reply {i}"
