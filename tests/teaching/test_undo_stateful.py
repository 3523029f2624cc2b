"""Issue 23: a stateful property test of undo and redo. Random sequences of every kind of
operation (steps, train, settings on the API and the page, weights, features/layers/data set
edits by reset and by the page's experiment form, added points) with undo, redo and export →
import interleaved; after every step the session must equal, bit for bit, a fresh session
built from scratch by replaying the operations that are in effect. On both stores.

The model: the session started from ``origin`` (a config, or an export document once the
machine has switched to an imported copy); ``done`` lists the operations in effect, ``undone``
the ones redo would bring back. A refused operation (409, 422) is not in effect: the replay
checks that it changed nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.teaching.helpers import S, snapshot

HX = {"hx-request": "true"}
BASES = [
    {"layers": [2, 3, 1], "output_activation": "sigmoid", "loss": "binary_cross_entropy",
     "dataset": {"name": "circle", "samples": 20}, "batch_size": 6},
    {"layers": [2, 2, 2], "output_activation": "softmax", "loss": "cross_entropy",
     "dataset": {"name": "xor"}},
]
EDITS = [
    None,  # reset to its own config
    {"layers": [3, 3, 1], "features": ["x1", "x2", "x1_sq"],
     "dataset": {"name": "circle", "samples": 20}, "batch_size": 5},
    {"layers": [2, 4, 2, 1], "dataset": {"name": "gauss", "samples": 16}},
    {"layers": [2, 3, 2], "output_activation": "softmax", "loss": "cross_entropy",
     "dataset": {"name": "spiral", "samples": 24}, "batch_size": 8},
    {"layers": [2, 2, 1], "dataset": {"X": [[0, 0], [1, 2], [2, 1]], "Y": [[0.5], [3], [-1]]}},
]
Op = tuple[str, str, Any]  # (kind, path, body): kind "api" (JSON POST/PUT) or "web" (form)


def apply(c: TestClient, sid: str, op: Op) -> int:
    kind, path, body = op
    if kind == "put":
        r = c.put(f"{S}/{sid}{path}", json=body)
    elif kind == "web":
        r = c.post(f"/s/{sid}{path}", data=body, headers=HX)
    else:
        r = c.post(f"{S}/{sid}{path}", json=body)
    assert r.status_code in (200, 409, 422), (op, r.status_code, r.text[:300])
    return r.status_code


class Undo(RuleBasedStateMachine):
    def __init__(self, c: TestClient) -> None:
        super().__init__()
        self.c = c
        self.sid = ""
        self.origin: tuple[str, Any] = ("config", None)
        self.done: list[Op] = []
        self.undone: list[Op] = []
        self.made: list[str] = []

    def teardown(self) -> None:
        for sid in self.made:
            self.c.delete(f"{S}/{sid}")

    def _new(self) -> str:
        kind, what = self.origin
        r = self.c.post(f"{S}/import" if kind == "doc" else S, json=what)
        assert r.status_code == 201, r.text[:300]
        sid: str = r.json()["id"]
        self.made.append(sid)
        return sid

    @initialize(base=st.sampled_from(BASES))
    def start(self, base: dict[str, Any]) -> None:
        self.origin = ("config", base)
        self.sid = self._new()

    def _version(self) -> int:
        v: int = self.c.get(f"{S}/{self.sid}").json()["version"]
        return v

    def _do(self, op: Op) -> None:
        """Apply ``op``; in effect if it made a new version (a page answers 200 with a
        message when it refuses, e.g. a step that is not next)."""
        v = self._version()
        if apply(self.c, self.sid, op) == 200 and self._version() != v:
            self.done.append(op)
            self.undone.clear()

    # --- operations ------------------------------------------------------------------------
    @rule(what=st.sampled_from(["/step", "/forward", "/backward", "/update"]))
    def step(self, what: str) -> None:
        self._do(("api", what, None))

    @rule(through=st.sampled_from(["/forward", "/backward"]))
    def through(self, through: str) -> None:
        self._do(("api", through, {"through": "all"}))

    @rule(epochs=st.integers(1, 3))
    def train(self, epochs: int) -> None:
        self._do(("api", "/train", {"epochs": epochs}))

    @rule(page=st.sampled_from(["epoch", "forward", "step"]))
    def page_button(self, page: str) -> None:
        self._do(("web", "/do", {"op": page}))

    @rule(change=st.sampled_from([{"learning_rate": 0.9}, {"batch_size": 4},
                                  {"batch_size": None},
                                  {"regularization": {"kind": "l2", "rate": 0.05}}]))
    def patch(self, change: dict[str, Any]) -> None:
        v = self._version()
        r = self.c.patch(f"{S}/{self.sid}", json=change)
        assert r.status_code in (200, 422), r.text[:300]
        if r.status_code == 200 and self._version() != v:
            self.done.append(("patch", "", change))
            self.undone.clear()

    @rule(lr=st.sampled_from(["0.05", "2"]))
    def page_settings(self, lr: str) -> None:
        self._do(("web", "/settings", {"learning_rate": lr}))

    @rule(shift=st.sampled_from([0.25, -0.5]))
    def weights(self, shift: float) -> None:
        layers = self.c.get(f"{S}/{self.sid}").json()["layers"]
        body = {"layers": [{"W": [[v + shift for v in row] for row in l["W"]],
                            **({"b": [v - shift for v in l["b"]]} if l.get("b") is not None
                               else {})} for l in layers]}
        self._do(("put", "/weights", body))

    @rule(edit=st.sampled_from(EDITS))
    def reset(self, edit: dict[str, Any] | None) -> None:
        self._do(("api", "/reset", edit))

    @rule(edit=st.sampled_from(EDITS), then=st.sampled_from([None, "/step", "/forward"]))
    def edit_then_undo(self, edit: dict[str, Any] | None, then: str | None) -> None:
        """The issue's sequence, made likely: an edit (a pass in progress or not), then back
        over it with one multi-step undo."""
        n = len(self.done)
        self._do(("api", "/reset", edit))
        if then is not None:
            self._do(("api", then, None))
        k = len(self.done) - n
        if k:
            r = self.c.post(f"{S}/{self.sid}/undo", params={"steps": k})
            assert r.status_code == 200, r.text[:300]
            for _ in range(k):
                self.undone.append(self.done.pop())

    @rule(action=st.sampled_from(["inc:0", "dec:0", "add", "remove"]))
    def experiment(self, action: str) -> None:
        self._do(("web", "/experiment", {"action": action}))

    @rule(x1=st.sampled_from([0.5, -2.0]), y=st.sampled_from([0.0, 1.0, 0.25, 7.0]))
    def point(self, x1: float, y: float) -> None:
        self._do(("api", "/points", {"x1": x1, "x2": 1.5, "y": y}))

    # --- history ---------------------------------------------------------------------------
    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def undo(self, data: st.DataObject) -> None:
        k = data.draw(st.integers(1, min(3, len(self.done))))
        r = self.c.post(f"{S}/{self.sid}/undo", params={"steps": k})
        assert r.status_code == 200, r.text[:300]
        for _ in range(k):
            self.undone.append(self.done.pop())

    @precondition(lambda self: bool(self.undone))
    @rule(data=st.data())
    def redo(self, data: st.DataObject) -> None:
        k = data.draw(st.integers(1, min(3, len(self.undone))))
        r = self.c.post(f"{S}/{self.sid}/redo", params={"steps": k})
        assert r.status_code == 200, r.text[:300]
        for _ in range(k):
            self.done.append(self.undone.pop())

    @rule()
    def nothing_to_undo_beyond_the_ring(self) -> None:
        if not self.done:
            assert self.c.post(f"{S}/{self.sid}/undo").status_code == 409
        if not self.undone:
            assert self.c.post(f"{S}/{self.sid}/redo").status_code == 409

    @rule(switch=st.booleans())
    def export_import(self, switch: bool) -> None:
        """The export imports; with ``switch`` the machine goes on with the imported copy
        (its origin is the document, with nothing to undo)."""
        doc = self.c.get(f"{S}/{self.sid}/export").json()
        r = self.c.post(f"{S}/import", json=doc)
        assert r.status_code == 201, r.text[:300]
        new = r.json()["id"]
        self.made.append(new)
        again = self.c.get(f"{S}/{new}/export").json()
        keys = ("config", "weights", "epoch", "iteration", "batch_pos", "epoch_loss_sum",
                "epoch_test_loss", "history", "status")
        assert {k: again[k] for k in keys} == {k: doc[k] for k in keys}
        if switch:
            self.origin, self.sid, self.done, self.undone = ("doc", doc), new, [], []

    # --- the invariant: equal to a replay from scratch ---------------------------------------
    @invariant()
    def equals_a_replay(self) -> None:
        if not self.sid:
            return
        fresh = self._new()
        for op in self.done:
            if op[0] == "patch":
                r = self.c.patch(f"{S}/{fresh}", json=op[2])
                assert r.status_code == 200
            else:
                assert apply(self.c, fresh, op) == 200, op
        here, there = snapshot(self.c, self.sid), snapshot(self.c, fresh)
        here[0].pop("id"), there[0].pop("id")
        assert here == there
        counts = self.c.get(f"{S}/{self.sid}").json()["undo"]
        assert counts == {"back": len(self.done), "forward": len(self.undone)}
        self.c.delete(f"{S}/{fresh}")
        self.made.remove(fresh)


# A few tens of seconds per store on a loaded 2-core machine; UNDO_EXAMPLES=200 explores more.
EXAMPLES = int(os.environ.get("UNDO_EXAMPLES", "8"))


@pytest.mark.parametrize("steps", [12])
def test_undo_redo_export_import_against_a_replay(
        make_client: Callable[..., TestClient], store_url: str, steps: int) -> None:
    c = make_client(store=store_url, undo_depth=200, undo_max_bytes=64 << 20)
    run_state_machine_as_test(
        lambda: Undo(c),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=steps, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much]))
