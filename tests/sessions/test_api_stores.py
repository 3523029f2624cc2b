"""The store guarantees seen through the HTTP API, on both stores: concurrent train calls on
one session, heavy training not stalling other requests, the cap and the TTL, /healthz, and
(Redis) several app instances sharing sessions and an app restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import API

SESSIONS = f"{API}/sessions"
MakeClient = Callable[..., TestClient]


def create(client: TestClient, **config: Any) -> str:
    r = client.post(SESSIONS, json=config)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def weights(state: dict[str, Any]) -> list[Any]:
    return [(layer["W"], layer["b"]) for layer in state["layers"]]


@pytest.mark.parametrize("preset", ["seed-xor", "spiral"])
def test_16_simultaneous_trains_equal_the_same_calls_in_sequence(
    make_client: MakeClient, store_url: str, preset: str
) -> None:
    """Full batch (seed-xor) and mini-batches (spiral): the epochs add up and the weights are
    those of the calls made one after another. On Redis the calls go through two app
    instances sharing the server, as two workers would."""
    apps = [make_client(store=store_url)]
    if store_url != "memory":
        apps.append(make_client(store=store_url))
    sid = create(apps[0], preset=preset)
    epochs = [1 + (i * 7) % 13 for i in range(16)]
    barrier = threading.Barrier(16)

    def train(i: int) -> dict[str, Any]:
        barrier.wait()
        r = apps[i % len(apps)].post(f"{SESSIONS}/{sid}/train", json={"epochs": epochs[i]},
                                     params={"history": 1})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(train, range(16)))
    assert [r["ran"] for r in replies] == epochs
    assert all(r["stopped"] is None for r in replies)
    # Applied one after another: in the order they ran, each call's reply shows the epochs of
    # all the calls before it plus its own.
    total = 0
    for r in sorted(replies, key=lambda r: r["epoch"]):
        total += r["ran"]
        assert r["epoch"] == total
    final = apps[-1].get(f"{SESSIONS}/{sid}").json()
    assert final["epoch"] == sum(epochs)
    assert final["history_length"] == sum(epochs)

    sequential = make_client()
    ref = create(sequential, preset=preset)
    for n in epochs:
        assert sequential.post(f"{SESSIONS}/{ref}/train", json={"epochs": n}).json()["ran"] == n
    expected = sequential.get(f"{SESSIONS}/{ref}").json()
    assert weights(final) == weights(expected)
    assert final["history"] == expected["history"]
    assert final["loss"] == expected["loss"]


def test_a_heavy_train_does_not_stall_other_requests(
    make_client: MakeClient, store_url: str
) -> None:
    """While one session trains for its whole 2-second budget, requests on another session
    (and /healthz) keep being answered: many rounds finish before the train call returns. If
    training blocked the event loop, at most one round could finish in that time."""
    client = make_client(store=store_url, train_time_budget=2.0)
    heavy = create(client, layers=[2, 64, 64, 64, 1],
                   dataset={"name": "spiral", "samples": 5000, "test_ratio": 0.0})
    other = create(client, preset="seed-xor")
    result: dict[str, Any] = {}
    done = threading.Event()

    def train() -> None:
        r = client.post(f"{SESSIONS}/{heavy}/train", json={"epochs": 100_000},
                        params={"history": 1})
        result.update(r.json())
        done.set()

    thread = threading.Thread(target=train)
    thread.start()
    rounds = rounds_during_train = 0
    while not done.is_set() and rounds < 1000:
        assert client.get("/healthz").status_code == 200
        assert client.post(f"{SESSIONS}/{other}/step").status_code == 200
        assert client.get(f"{SESSIONS}/{other}").status_code == 200
        rounds += 1
        rounds_during_train += not done.is_set()
    thread.join(30)
    assert result["stopped"] == "time_budget" and 1 <= result["ran"] < 100_000
    assert rounds_during_train >= 3, rounds_during_train
    # Every step was applied: 5 steps (2 forward, 2 backward, 1 update) per iteration.
    assert client.get(f"{SESSIONS}/{other}").json()["iteration"] == rounds // 5


def test_the_cap_evicts_least_recently_used_with_a_404_message(
    make_client: MakeClient, store_url: str
) -> None:
    client = make_client(store=store_url, max_sessions=3)
    a, b, c = (create(client) for _ in range(3))
    time.sleep(0.003)
    assert client.post(f"{SESSIONS}/{a}/step").status_code == 200  # a: recently used
    time.sleep(0.003)
    d = create(client)
    r = client.get(f"{SESSIONS}/{b}")
    assert r.status_code == 404
    assert "evicted" in r.json()["detail"] and "expired" in r.json()["detail"]
    for sid in (a, c, d):
        assert client.get(f"{SESSIONS}/{sid}").status_code == 200
    assert client.get("/healthz").json()["sessions"] == 3


def test_a_flood_of_creations_stays_at_the_cap(make_client: MakeClient, store_url: str) -> None:
    client = make_client(store=store_url, max_sessions=50)
    ids = [create(client, preset="seed-xor") for _ in range(250)]
    assert client.get("/healthz").json()["sessions"] == 50
    assert client.get(f"{SESSIONS}/{ids[-1]}").status_code == 200
    assert client.get(f"{SESSIONS}/{ids[-50]}").status_code == 200
    assert client.get(f"{SESSIONS}/{ids[-51]}").status_code == 404


def test_idle_sessions_expire(make_client: MakeClient, store_url: str) -> None:
    client = make_client(store=store_url, session_ttl=1.0)
    sid = create(client)
    assert client.get(f"{SESSIONS}/{sid}").status_code == 200
    time.sleep(1.4)
    r = client.get(f"{SESSIONS}/{sid}")
    assert r.status_code == 404 and "expired" in r.json()["detail"]
    assert client.get("/healthz").json()["sessions"] == 0


def test_healthz_reports_the_store(make_client: MakeClient, store_url: str) -> None:
    client = make_client(store=store_url)
    create(client)
    body = client.get("/healthz").json()
    assert body.pop("kernel") in ("numpy", "numba")  # the training kernel in use
    assert body == {"status": "ok", "store": "memory" if store_url == "memory" else "redis",
                    "sessions": 1}


@pytest.mark.redis
def test_sessions_survive_an_app_restart_and_continue_bit_for_bit(
    make_client: MakeClient, redis_url: str
) -> None:
    with TestClient(create_app(Settings(store=redis_url))) as first:
        sid = create(first, preset="circle")
        first.post(f"{SESSIONS}/{sid}/train", json={"epochs": 3})
        for _ in range(4):
            first.post(f"{SESSIONS}/{sid}/step")
        before = first.get(f"{SESSIONS}/{sid}", params={"samples": "all"}).json()
    # The app has stopped (its lifespan closed the store); a new one starts.

    second = make_client(store=redis_url)
    assert second.get(f"{SESSIONS}/{sid}", params={"samples": "all"}).json() == before
    memory = make_client()
    ref = create(memory, preset="circle")
    memory.post(f"{SESSIONS}/{ref}/train", json={"epochs": 3})
    for _ in range(4):
        memory.post(f"{SESSIONS}/{ref}/step")
    for _ in range(6):
        got = second.post(f"{SESSIONS}/{sid}/step", params={"samples": "all"}).json()
        want = memory.post(f"{SESSIONS}/{ref}/step", params={"samples": "all"}).json()
        assert {**got, "id": None} == {**want, "id": None}
