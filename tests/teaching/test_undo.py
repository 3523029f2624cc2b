"""Undo and redo are exact: after undo the whole state (JSON and every array's bytes) equals
the state before the operation; redo restores the state after it. On both stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.teaching.helpers import S, snapshot, state

HX = {"hx-request": "true"}
Op = Callable[[TestClient, str], None]


def api(method: str, path: str, body: Any = None) -> Op:
    def run(client: TestClient, sid: str) -> None:
        r = client.request(method, f"{S}/{sid}{path}", json=body)
        assert r.status_code == 200, r.text
    return run


def web(path: str, form: dict[str, str] | None = None) -> Op:
    def run(client: TestClient, sid: str) -> None:
        r = client.post(f"/s/{sid}{path}", data=form or {}, headers=HX)
        assert r.status_code == 200, r.text
    return run


def weights(client: TestClient, sid: str) -> None:
    layers = state(client, sid)["layers"]
    body = {"layers": [{"W": [[v + 0.25 for v in row] for row in l["W"]],
                        "b": [v - 0.5 for v in l["b"]]} for l in layers]}
    r = client.put(f"{S}/{sid}/weights", json=body)
    assert r.status_code == 200, r.text


# Every kind of operation, API and page, in an order that visits every cursor position, a
# finished epoch, a partly done mini-batch epoch, a history compaction and a data change.
OPERATIONS: list[tuple[str, Op]] = [
    ("forward", api("POST", "/forward")),
    ("forward all", api("POST", "/forward", {"through": "all"})),
    ("backward", api("POST", "/backward")),
    ("backward all", api("POST", "/backward", {"through": "all"})),
    ("update", api("POST", "/update")),
    ("step", api("POST", "/step")),
    ("step", api("POST", "/step")),
    ("epoch (page)", web("/do", {"op": "epoch"})),
    ("train", api("POST", "/train", {"epochs": 30})),
    ("patch batch_size", api("PATCH", "", {"batch_size": 2})),
    ("step", api("POST", "/step")),
    ("forward all", api("POST", "/forward", {"through": "all"})),
    ("train mini-batch", api("POST", "/train", {"epochs": 3})),
    ("forward (page)", web("/do", {"op": "forward"})),
    ("patch lr", api("PATCH", "", {"learning_rate": 0.5, "regularization": {"kind": "l2",
                                                                               "rate": 0.01}})),
    ("settings (page)", web("/settings", {"learning_rate": "0.3"})),
    ("weights", weights),
    ("play tick (page)", web("/tick?n=10")),
    ("train past the history limit", api("POST", "/train", {"epochs": 40})),
    ("reset", api("POST", "/reset")),
    ("step", api("POST", "/step")),
    ("reset to new data", api("POST", "/reset", {"preset": "circle"})),
    ("step", api("POST", "/step")),
    ("add a point", api("POST", "/points", {"x1": 0.5, "x2": -1.5, "y": 1})),
    ("add a point (page)", web("/point", {"x1": "1", "x2": "2", "y": "0"})),
    ("change the experiment (page)", web("/experiment", {"action": "inc:0"})),
    ("train with grad norms", api("POST", "/train", {"epochs": 3})),
]


@pytest.fixture
def teach(make_client: Callable[..., TestClient], store_url: str) -> TestClient:
    # history_limit 16: a 40-epoch train compacts the curve, which undo must bring back.
    return make_client(store=store_url, history_limit=16, create_rate_limit=0)


def test_undo_and_redo_every_operation_exactly(teach: TestClient) -> None:
    r = teach.post(S, json={"preset": "xor-bias"})
    assert r.status_code == 201
    sid = r.json()["id"]
    states = [snapshot(teach, sid)]
    for name, op in OPERATIONS:
        before = states[-1]
        op(teach, sid)
        after = snapshot(teach, sid)
        assert after != before, f"{name} changed nothing"
        back = teach.post(f"{S}/{sid}/undo")
        assert back.status_code == 200, back.text
        assert snapshot(teach, sid) == before, f"undo of {name}"
        forth = teach.post(f"{S}/{sid}/redo")
        assert forth.status_code == 200, forth.text
        assert snapshot(teach, sid) == after, f"redo of {name}"
        states.append(after)
    n = len(OPERATIONS)
    assert state(teach, sid)["undo"] == {"back": n, "forward": 0}
    # All the way back, one step at a time, then all the way forward again.
    for k in range(n, 0, -1):
        assert teach.post(f"{S}/{sid}/undo").status_code == 200
        assert snapshot(teach, sid) == states[k - 1], f"undo #{n - k + 1}"
    assert teach.post(f"{S}/{sid}/undo").status_code == 409
    r = teach.post(f"{S}/{sid}/redo", params={"steps": n})
    assert r.status_code == 200 and r.json()["undo"] == {"back": n, "forward": 0}
    assert snapshot(teach, sid) == states[-1]
    assert teach.post(f"{S}/{sid}/redo").status_code == 409


def test_version_counts_every_change_undo_and_redo_included(any_store_client: TestClient
                                                            ) -> None:
    c = any_store_client
    s = c.post(S, json={"preset": "seed-xor"}).json()
    assert (s["version"], s["undo"]) == (0, {"back": 0, "forward": 0})
    sid = s["id"]
    assert c.post(f"{S}/{sid}/step").json()["version"] == 1
    assert c.post(f"{S}/{sid}/undo").json()["version"] == 2
    r = c.post(f"{S}/{sid}/redo").json()
    assert r["version"] == 3 and r["undo"] == {"back": 1, "forward": 0}
    assert c.get(f"{S}/{sid}/export").json()["version"] == 3
    # A refused operation changes nothing: no version, no restore point.
    assert c.post(f"{S}/{sid}/update").status_code == 409
    assert c.get(f"{S}/{sid}").json()["version"] == 3


def test_a_new_operation_drops_the_redo_side(any_store_client: TestClient) -> None:
    c = any_store_client
    sid = c.post(S, json={"preset": "seed-xor"}).json()["id"]
    for _ in range(3):
        c.post(f"{S}/{sid}/step")
    r = c.post(f"{S}/{sid}/undo", params={"steps": 2}).json()
    assert r["undo"] == {"back": 1, "forward": 2}
    r = c.post(f"{S}/{sid}/train", json={"epochs": 2}).json()
    assert r["undo"] == {"back": 2, "forward": 0}
    assert c.post(f"{S}/{sid}/redo").status_code == 409


def test_depth_is_bounded(make_client: Callable[..., TestClient], store_url: str) -> None:
    c = make_client(store=store_url, undo_depth=5)
    sid = c.post(S, json={"preset": "seed-xor"}).json()["id"]
    first_five = []
    for _ in range(8):
        first_five.append(snapshot(c, sid))
        c.post(f"{S}/{sid}/step")
    assert state(c, sid)["undo"] == {"back": 5, "forward": 0}
    r = c.post(f"{S}/{sid}/undo", params={"steps": 5})
    assert r.status_code == 200
    assert snapshot(c, sid) == first_five[3]  # 8 steps, 5 undone: the state after step 3
    assert c.post(f"{S}/{sid}/undo").status_code == 409


def test_memory_is_bounded(make_client: Callable[..., TestClient], store_url: str) -> None:
    # Each update of a 2-64-64-1 net keeps its old weights (~34 KB); 100 KB holds two.
    limit = 100_000
    c = make_client(store=store_url, undo_max_bytes=limit)
    sid = c.post(S, json={"layers": [2, 64, 64, 1], "dataset": {"name": "xor"}}).json()["id"]
    for _ in range(6):
        assert c.post(f"{S}/{sid}/train", json={"epochs": 1}).status_code == 200

    async def ring_bytes() -> tuple[int, int]:
        async with c.app.state.store.use(sid, write=False) as s:  # type: ignore[attr-defined]
            return s.undo.nbytes(), len(s.undo.back)

    used, points = c.portal.call(ring_bytes)  # type: ignore[union-attr]
    assert used <= limit
    assert 1 <= points < 6
    weights_bytes = 8 * (2 * 64 + 64 + 64 * 64 + 64 + 64 + 1)
    assert points * weights_bytes <= limit < (points + 1) * weights_bytes + 2000


def test_undo_survives_a_restart_of_the_store(make_client: Callable[..., TestClient],
                                              redis_url: str) -> None:
    """The ring lives in the session: another app on the same Redis undoes exactly."""
    a = make_client(store=redis_url)
    sid = a.post(S, json={"preset": "seed-xor"}).json()["id"]
    a.post(f"{S}/{sid}/forward")
    before = snapshot(a, sid)
    a.post(f"{S}/{sid}/forward")
    b = make_client(store=redis_url)
    assert b.post(f"{S}/{sid}/undo").status_code == 200
    assert snapshot(b, sid) == before
