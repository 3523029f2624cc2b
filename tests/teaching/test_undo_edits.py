"""Undo and redo of edits that change the data's shape (input features, layers, data set,
added points), with a pass in progress, on both stores; and a failed undo changes nothing
(issue 23: an undo of a features change left 3-value rows under a 2-input config)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.sessions import undo
from tests.teaching.helpers import S, snapshot, state

FEATURES = {"preset": "circle", "layers": [3, 4, 1], "features": ["x1", "x2", "x1_sq"]}


@pytest.fixture
def c(make_client: Callable[..., TestClient], store_url: str) -> TestClient:
    return make_client(store=store_url)


def ok(c: TestClient, method: str, path: str, body: Any = None) -> dict[str, Any]:
    r = c.request(method, path, json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def usable(c: TestClient, sid: str) -> None:
    """Every reader and writer of the data answers 200 on the restored session; then its two
    changes are undone (so the state is as it was)."""
    before = snapshot(c, sid)
    st = state(c, sid)
    assert len(st["layers"][0]["W"]) == st["config"]["layers"][0]
    ok(c, "POST", f"{S}/{sid}/step")
    ok(c, "POST", f"{S}/{sid}/train", {"epochs": 3})
    ok(c, "GET", f"{S}/{sid}/gradcheck")
    assert c.get(f"/s/{sid}").status_code == 200
    assert c.post(f"{S}/{sid}/undo", params={"steps": 2}).status_code == 200
    assert snapshot(c, sid) == before


@pytest.mark.parametrize("in_pass", [False, True], ids=["at rest", "pass in progress"])
@pytest.mark.parametrize("edit", [
    FEATURES,
    {"preset": "circle", "layers": [2, 5, 3, 1]},
    {"preset": "spiral", "layers": [2, 4, 2], "output_activation": "softmax",
     "loss": "cross_entropy"},
], ids=["features", "layers", "dataset+outputs"])
def test_undo_and_redo_of_a_shape_changing_reset(c: TestClient, in_pass: bool,
                                                 edit: dict[str, Any]) -> None:
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    ok(c, "POST", f"{S}/{sid}/train", {"epochs": 2})
    if in_pass:
        ok(c, "POST", f"{S}/{sid}/forward")
    before = snapshot(c, sid)
    ok(c, "POST", f"{S}/{sid}/reset", edit)
    if in_pass:
        ok(c, "POST", f"{S}/{sid}/forward")
        ok(c, "POST", f"{S}/{sid}/forward")
    after = snapshot(c, sid)
    n = 3 if in_pass else 1
    back, forth = {"steps": n}, {"steps": n}
    assert c.post(f"{S}/{sid}/undo", params=back).status_code == 200
    assert snapshot(c, sid) == before
    assert c.post(f"{S}/{sid}/redo", params=forth).status_code == 200
    assert snapshot(c, sid) == after
    usable(c, sid)
    for _ in range(n):  # one at a time this time
        ok(c, "POST", f"{S}/{sid}/undo")
    assert snapshot(c, sid) == before
    usable(c, sid)


def test_undo_of_features_then_points_then_layers(c: TestClient) -> None:
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    states = [snapshot(c, sid)]
    for method, path, body in [
        ("POST", "/reset", FEATURES),
        ("POST", "/points", {"x1": 0.5, "x2": -1.0, "y": 1}),
        ("POST", "/forward", None),
        ("POST", "/reset", {"preset": "circle", "layers": [2, 3, 1]}),
        ("POST", "/step", None),
    ]:
        ok(c, method, f"{S}/{sid}{path}", body)
        states.append(snapshot(c, sid))
    for k in range(len(states) - 1, 0, -1):
        ok(c, "POST", f"{S}/{sid}/undo")
        assert snapshot(c, sid) == states[k - 1]
        usable(c, sid)


def test_a_failed_undo_changes_nothing(c: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two steps back where the second cannot be applied: the session, its version and both
    stacks stay as they were, and the undo works once the fault is gone."""
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    ok(c, "POST", f"{S}/{sid}/reset", FEATURES)
    ok(c, "POST", f"{S}/{sid}/forward")
    ok(c, "POST", f"{S}/{sid}/forward")
    before, counts = snapshot(c, sid), state(c, sid)["undo"]
    version = state(c, sid)["version"]
    real = undo._replay
    calls = []

    def flaky(t: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("injected fault")
        real(t)

    monkeypatch.setattr(undo, "_replay", flaky)
    with pytest.raises(RuntimeError, match="injected"):
        c.post(f"{S}/{sid}/undo", params={"steps": 2})
    assert len(calls) == 2
    monkeypatch.setattr(undo, "_replay", real)
    assert snapshot(c, sid) == before
    assert state(c, sid)["undo"] == counts and state(c, sid)["version"] == version
    assert c.post(f"{S}/{sid}/undo", params={"steps": 3}).status_code == 200
    assert state(c, sid)["config"]["features"] == ["x1", "x2"]
    usable(c, sid)
