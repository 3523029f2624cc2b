"""The memory budget counts what sessions really hold (issue #23): undo rings, history at its
measured size, the arrays actually allocated. Checked against tracemalloc, an independent
measure of the same objects, never against the estimate's own formula."""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.nn.stepper import History
from app.sessions import budget
from app.sessions.model import Session
from tests.conftest import API

BIG = {"preset": "spiral", "layers": [2, 64, 64, 64, 64, 1], "dataset": {
    "name": "spiral", "samples": 40, "noise": 0.1, "seed": 1}}


def real_bytes(raw: bytes, settings: Any) -> tuple[int, Session]:
    """tracemalloc's count of a session loaded from its saved bytes (the memory it holds)."""
    gc.collect()
    tracemalloc.start()
    try:
        s = Session.from_bytes(raw, settings)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return held, s


@pytest.mark.parametrize("L", [1, 2, 3, 5, 9])
def test_a_history_point_costs_what_is_measured(L: int) -> None:
    rng = random.Random(L)
    n = 5000
    gc.collect()
    tracemalloc.start()
    h = History()
    for i in range(n):
        h.append(1000 + i, rng.random(), rng.random(), [rng.random() for _ in range(L)])
    h.columns(L)  # the arrays kept for saving
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_point = held / n
    assert 0.9 * per_point <= budget.history_point_bytes(L) <= 1.2 * per_point, per_point
    assert per_point > 200  # the old estimate (120 B) was under half of it


@pytest.mark.parametrize(("config", "trains"), [({"preset": "xor-bias"}, [3000]),
                                                (BIG, [1] * 30)])
def test_resident_bytes_match_the_real_memory(client: TestClient, config: dict[str, Any],
                                              trains: list[int]) -> None:
    sid = client.post(f"{API}/sessions", json=config).json()["id"]
    for epochs in trains:  # each train is an undo restore point
        assert client.post(f"{API}/sessions/{sid}/train",
                           json={"epochs": epochs}).status_code == 200
    app: Any = client.app
    live = app.state.store._sessions[sid]
    real, loaded = real_bytes(live.to_bytes(), app.state.settings)
    counted = loaded.resident_bytes()
    assert 0.8 * real <= counted <= 1.6 * real, (counted, real)
    if len(trains) > 1:
        assert budget.undo_bytes(loaded.undo) > 0.3 * real  # the ring is most of it


def test_undo_rings_count_in_the_memory_budget(make_client: Callable[..., TestClient]) -> None:
    """The reproduction, scaled down: sessions of a deep network trained many times, each
    train a restore point. The budget evicts the least recently used sessions, and the bytes
    it counts stay within it."""
    limit = 2 << 20
    c = make_client(memory_budget=limit, undo_max_bytes=8 << 20)
    app: Any = c.app
    store = app.state.store
    made = []
    for _ in range(6):
        sid = c.post(f"{API}/sessions", json=BIG).json()["id"]
        made.append(sid)
        for _ in range(10):
            assert c.post(f"{API}/sessions/{sid}/train", json={"epochs": 1}).status_code == 200
    assert store.total_bytes <= limit
    alive = [sid for sid in made if c.get(f"{API}/sessions/{sid}").status_code == 200]
    assert len(alive) < len(made)  # evicted (the old estimate counted none of the rings)
    real = sum(real_bytes(store._sessions[sid].to_bytes(), app.state.settings)[0]
               for sid in alive)
    assert real <= 1.3 * limit, (real, limit)


def test_reply_estimate_covers_the_real_history_json(make_client: Callable[..., TestClient]
                                                      ) -> None:
    c = make_client(max_reply_bytes=1 << 30)
    sid = c.post(f"{API}/sessions", json={"preset": "xor-bias", "layers": [2, 3, 3, 3, 1]}
                 ).json()["id"]
    c.post(f"{API}/sessions/{sid}/train", json={"epochs": 4000})
    with_all = len(c.get(f"{API}/sessions/{sid}", params={"history": "all"}).content)
    without = len(c.get(f"{API}/sessions/{sid}", params={"history": 2}).content)
    per_point = (with_all - without) / 3998
    est = budget.history_json_bytes(4)
    assert per_point <= est <= 2 * per_point, (per_point, est)
