"""The memory store's recount (Session.resident_bytes, on every write) reuses what it counted
of the config and the spec (budget.held_bytes's memo): after any sequence of operations its
total, and the bytes the store accounts for the session, equal a full recount without a memo.
"""

from __future__ import annotations

import random
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.nn.network import Spec
from app.sessions import budget
from app.sessions.model import Session

API = "/api/v1/sessions"


def full_recount(s: Session) -> int:
    """Session.resident_bytes written out, with held_bytes walking everything."""
    t = s.trainer
    h = t.history
    return (budget.RESIDENT_OVERHEAD + budget.held_bytes(t, skip=(h,))
            + len(h.epoch) * budget.history_point_bytes(len(t.net.W))
            + budget.undo_bytes(s.undo)
            + budget.PYFLOAT * budget.config_floats(s.config))


OPS = ["train", "step", "forward", "update", "undo", "redo", "reset", "relayer", "patch", "point",
       "weights", "import", "undo3"]


def operate(c: TestClient, sid: str, op: str, rng: random.Random) -> str:
    """Applies ``op`` to session ``sid``; returns the id to go on with (an import's)."""
    s = f"{API}/{sid}"
    if op == "train":
        c.post(f"{s}/train", json={"epochs": rng.choice([1, 3, 10])})
    elif op in ("step", "update"):
        c.post(f"{s}/{op}")
    elif op == "forward":
        c.post(f"{s}/forward", json={"through": "all"})
    elif op == "undo":
        c.post(f"{s}/undo")
    elif op == "redo":  # (right after an undo: there is something to redo)
        c.post(f"{s}/undo")
        c.post(f"{s}/redo")
    elif op == "undo3":
        c.post(f"{s}/undo", json={"steps": 3})
    elif op == "reset":
        c.post(f"{s}/reset")
    elif op == "relayer":  # a new config: new layers, a new spec, new arrays
        c.post(f"{s}/reset", json={"layers": rng.choice([[2, 3, 1], [2, 4, 2, 1], [2, 5, 1]])})
    elif op == "patch":
        c.patch(s, json={"learning_rate": rng.choice([0.1, 0.03]),
                         "batch_size": rng.choice([None, 4])})
    elif op == "point":
        c.post(f"{s}/points", json={"x1": rng.random(), "x2": rng.random(), "y": 1.0})
    elif op == "weights":
        layers = c.get(s).json()["config"]["layers"]
        c.put(f"{s}/weights", json={"layers": [
            {"W": [[0.1] * b for _ in range(a)], "b": [0.0] * b}
            for a, b in pairwise(layers)]})
    elif op == "import":
        doc = c.get(f"{s}/export").json()
        r = c.post(f"{API}/import", json=doc)
        if r.status_code == 201:
            return str(r.json()["id"])
    return sid


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_memo_total_equals_a_full_recount(seed: int) -> None:
    rng = random.Random(seed)
    # A small undo budget, so that bound() evicts points along the way.
    settings = Settings(create_rate_limit=0, undo_depth=6, undo_max_bytes=20_000)
    with TestClient(create_app(settings)) as c:
        store: Any = c.app.state.store  # type: ignore[attr-defined]
        sid = c.post(API, json={"layers": [2, 3, 1], "init": {"seed": seed}}).json()["id"]
        hits = 0
        for _ in range(60):
            sid = operate(c, sid, rng.choice(OPS), rng)
            s: Session = store._sessions[sid]
            full = full_recount(s)
            hits += bool(s.held_memo)
            assert s.resident_bytes() == full
            assert store._bytes[sid] == full  # what the budget adds up
            assert store.total_bytes == sum(full_recount(x) for x in store._sessions.values())
        assert hits  # the memo was in use


def test_memo_is_exact_when_a_shared_part_moves() -> None:
    """A memoised subtree met an object already counted elsewhere (the spec's layers tuple
    is the config's): once that other holder is gone, reusing the subtree's bytes would
    leave the tuple out. The memo must see it and count again."""
    layers = (2, 3, 1)

    class Holder:
        def __init__(self, first: object, second: object) -> None:
            self.first, self.second = first, second

    spec = Spec(layers)
    memo: budget.HeldMemo = {}
    both = Holder(layers, spec)  # layers counted first, then skipped inside spec
    assert budget.held_bytes(both, memo=memo) == budget.held_bytes(both)
    assert any(entry[0] is spec for entry in memo.values())
    alone = Holder(np.zeros(3), spec)  # now the spec's walk must count the tuple itself
    assert budget.held_bytes(alone, memo=memo) == budget.held_bytes(alone)
    # 56 + 8 per item: the tuple of 3 layer widths
    assert budget.held_bytes(alone, memo=memo) - budget.held_bytes(Holder(np.zeros(3), None)) \
        >= 56 + 8 * 3
