"""Every operation goes through the one door: each write endpoint (API and page) takes the
session through Door.apply, bumps the version exactly once and records one restore point."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.sessions.commands import COMMANDS, Export, GradCheck, State, Step, Tick, Train
from app.sessions.config import SessionConfig, normalize
from app.sessions.door import Door
from app.sessions.events import Hub
from app.sessions.model import Session
from app.sessions.store import MemoryStore
from tests.teaching.helpers import S, state

HX = {"hx-request": "true"}


def layers_body(client: TestClient, sid: str) -> dict[str, Any]:
    return {"layers": [{"W": l["W"], "b": l["b"]} for l in state(client, sid)["layers"]]}


# (method, path after /api/v1/sessions/{id} or /s/{id}, body, form?) — every write endpoint.
WRITES: list[tuple[str, str, Any]] = [
    ("POST", "api:/forward", None),
    ("POST", "api:/forward", {"through": "all"}),
    ("POST", "api:/backward", None),
    ("POST", "api:/backward", {"through": "all"}),
    ("POST", "api:/update", None),
    ("POST", "api:/step", None),
    ("POST", "api:/train", {"epochs": 3}),
    ("PATCH", "api:", {"learning_rate": 0.2}),
    ("PUT", "api:/weights", "current"),
    ("POST", "api:/reset", None),
    ("POST", "api:/reset", {"preset": "xor-bias", "learning_rate": 0.3}),
    ("POST", "web:/do", {"op": "step"}),
    ("POST", "web:/do", {"op": "epoch"}),
    ("POST", "web:/do", {"op": "train", "epochs": "5"}),
    ("POST", "web:/do", {"op": "reset"}),
    ("POST", "web:/settings", {"learning_rate": "0.4"}),
    ("POST", "web:/tick?n=10", {}),
    ("POST", "api:/points", {"x1": 0.5, "x2": 0.5, "y": 1}),
    ("POST", "web:/point", {"x1": "0.25", "x2": "0.75", "y": "0"}),
    ("POST", "web:/experiment", {"action": "inc:0"}),
]


@pytest.fixture
def counted(make_client: Callable[..., TestClient], store_url: str,
            monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, dict[str, int]]:
    client = make_client(store=store_url)
    calls = {"apply": 0, "use": 0}
    store = client.app.state.store  # type: ignore[attr-defined]
    original_use = store.use
    original_apply = Door.apply

    def use(sid: str, write: bool = True) -> Any:
        calls["use"] += 1
        return original_use(sid, write)

    async def apply(self: Door, *args: Any, **kw: Any) -> Any:
        calls["apply"] += 1
        return await original_apply(self, *args, **kw)

    monkeypatch.setattr(store, "use", use)
    monkeypatch.setattr(Door, "apply", apply)
    return client, calls


def test_every_write_goes_through_the_door(counted: tuple[TestClient, dict[str, int]]) -> None:
    client, calls = counted
    sid = client.post(S, json={"preset": "xor-bias"}).json()["id"]
    for method, where, body in WRITES:
        before = state(client, sid)
        calls.update(apply=0, use=0)
        kind, path = where.split(":", 1)
        if kind == "api":
            payload = layers_body(client, sid) if body == "current" else body
            calls.update(apply=0, use=0)
            r = client.request(method, f"{S}/{sid}{path}", json=payload)
        else:
            r = client.request(method, f"/s/{sid}{path}", data=body, headers=HX)
        assert r.status_code == 200, (where, r.text[:300])
        # The request took the session exactly as often as it went through the door.
        assert calls["use"] == calls["apply"] >= 1, (where, calls)
        after = state(client, sid)
        assert after["version"] == before["version"] + 1, where
        assert after["undo"]["back"] == before["undo"]["back"] + 1, where


def test_reads_change_nothing(any_store_client: TestClient) -> None:
    c = any_store_client
    sid = c.post(S, json={"preset": "xor-bias"}).json()["id"]
    for path in ("", "/export", "/gradcheck", "/link"):
        assert c.get(f"{S}/{sid}{path}").status_code == 200
    assert c.get(f"/s/{sid}").status_code == 200
    s = state(c, sid)
    assert s["version"] == 0 and s["undo"] == {"back": 0, "forward": 0}


def test_the_table_names_kinds_and_limits() -> None:
    writes = {c.name for c in COMMANDS if c.kind == "change"}
    # reveal: a class poll's steps up to its value (app/sessions/poll_service.py)
    assert writes == {"forward", "backward", "update", "step", "train", "tick", "patch",
                      "weights", "reset", "points", "reconfigure", "train_to", "run",
                      "reveal"}
    assert not State().writes and not Export().writes
    assert "max_epochs" in Train.limits


async def door_with_sessions(settings: Settings, preset: str, n: int
                             ) -> tuple[Door, MemoryStore, list[str]]:
    """A door over an open memory store holding ``n`` new sessions of ``preset``."""
    store = MemoryStore(settings)
    await store.open()
    ids = []
    for _ in range(n):
        s = Session.create(normalize(SessionConfig(preset=preset), settings), settings)
        await store.add(s)
        ids.append(s.id)
    return Door(store, settings, Hub(settings)), store, ids


@pytest.mark.parametrize("limit", [1, 3])
def test_operations_run_at_most_parallel_operations_at_once_in_arrival_order(limit: int
                                                                              ) -> None:
    """Fair sharing: with ``parallel_operations`` = 1 three operations on three sessions run one
    after another, in the order they arrived; with 3 they overlap (so the limit is what keeps
    them apart)."""
    settings = Settings(parallel_operations=limit)
    counts = {"active": 0, "peak": 0}
    finished: list[str] = []
    guard = threading.Lock()

    def view(s: Session, _outcome: Any) -> None:
        with guard:
            counts["active"] += 1
            counts["peak"] = max(counts["peak"], counts["active"])
        time.sleep(0.05)
        with guard:
            counts["active"] -= 1
            finished.append(s.id)

    async def run() -> list[str]:
        door, store, ids = await door_with_sessions(settings, "seed-xor", 3)
        await asyncio.gather(*(door.apply(sid, State(), view=view) for sid in ids))
        await store.close()
        return ids

    ids = asyncio.run(run())
    assert counts["peak"] == limit
    if limit == 1:
        assert finished == ids


def test_a_long_operation_never_holds_up_the_short_ones() -> None:
    """A train of up to train_time_budget seconds (or a gradient check) does not take one of
    the ``parallel_operations`` turns: with a single turn, a Play-sized read of another session
    finishes while the train still runs."""
    settings = Settings(parallel_operations=1, kernel="numpy", train_time_budget=0.5)
    assert Train.long and GradCheck.long
    assert not Tick.long and not Step.long
    done: dict[str, float] = {}

    async def run() -> None:
        door, store, ids = await door_with_sessions(settings, "spiral", 2)

        async def train() -> None:
            await door.apply(ids[0], Train(100_000))  # stops at its 0.5 s budget
            done["train"] = time.perf_counter()

        async def read() -> None:
            await asyncio.sleep(0.05)  # the train has started
            await door.apply(ids[1], State())
            done["read"] = time.perf_counter()

        await asyncio.gather(train(), read())
        await store.close()

    asyncio.run(run())
    assert done["read"] < done["train"] - 0.2
