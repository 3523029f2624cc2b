"""Issue 23: a session's own export always imports. A 10-layer network trained 100,000 epochs
(every history point with 10 gradient norms, written at full length) exported 27.6 MB, over
max_import_bytes: the export now thins a history longer than history_cap as History.compact
does, and fits."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from app.config import Settings
from app.nn.stepper import History
from app.sessions.documents import _thinned, history_cap
from tests.conftest import API

S = f"{API}/sessions"
LONGEST = -2.2250738585072014e-308  # 24 characters: the longest float JSON writes


def test_thinning_keeps_first_last_and_order() -> None:
    for n, limit in ((10, 16), (100, 16), (101, 16), (100_000, 22_000), (17, 16)):
        idx = _thinned(n, limit)
        assert len(idx) <= max(limit, 0) and (n <= limit) == (len(idx) == n)
        assert idx[0] == 0 and idx[-1] == n - 1
        assert all(a < b for a, b in itertools.pairwise(idx))
        # the rule of History.compact, applied to the same points
        h = History(list(range(n)), [0.0] * n, [None] * n, [None] * n)
        h.compact(limit)
        assert h.epoch == idx


def test_history_cap_is_half_the_import_limit_at_the_longest_point() -> None:
    s = Settings()
    for L in (1, 2, 9):
        point = json.dumps({"epoch": 10_000_000, "loss": LONGEST, "test_loss": LONGEST,
                            "grad_norm": [LONGEST] * L}) + ", "
        assert len(point) <= 114 + 26 * L
        assert history_cap(L, s) * len(point) <= s.max_import_bytes // 2


def test_a_long_deep_history_exports_under_the_import_limit_and_imports(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client(max_import_bytes=4 << 20)  # (smaller than the default: a quicker test)
    layers = [2, *[16] * 8, 1]  # 10 entries, the most (max_layers): 9 weight layers
    sid = c.post(S, json={"layers": layers, "dataset": {"name": "xor"}}).json()["id"]
    n = 100_000

    async def grow() -> None:
        async with c.app.state.store.use(sid) as s:  # type: ignore[attr-defined]
            t = s.trainer
            tiny = 1.2345678901234567e-300  # (long to write; losses must be ≥ 0)
            t.history = History(list(range(n)), [tiny] * n, [tiny] * n,
                                [[-LONGEST] * 9 for _ in range(n)])
            t.epoch = n

    c.portal.call(grow)  # type: ignore[union-attr]
    r = c.get(f"{S}/{sid}/export")
    assert r.status_code == 200
    assert len(r.content) <= 4 << 20, len(r.content)
    doc: dict[str, Any] = r.json()
    hist = doc["history"]
    assert hist[0]["epoch"] == 0 and hist[-1]["epoch"] == n - 1
    assert len(hist) <= history_cap(9, Settings(max_import_bytes=4 << 20)) < n
    r = c.post(f"{S}/import", content=r.content, headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text[:300]
    new = r.json()["id"]
    a, b = (c.get(f"{S}/{x}").json() for x in (sid, new))
    assert a["layers"] == b["layers"] and a["epoch"] == b["epoch"] == n
    assert c.post(f"{S}/{new}/train", json={"epochs": 1}).status_code == 200


def test_the_widest_deepest_session_with_adam_at_the_default_limit(
        make_client: Callable[..., TestClient]) -> None:
    """The issue's case at the defaults: 10 entries of 64, Adam's state beside the weights,
    100,000 history points at their longest: under max_import_bytes, and it imports."""
    c = make_client()
    limit = Settings().max_import_bytes
    layers = [2, *[64] * 8, 1]
    r = c.post(S, json={"layers": layers, "dataset": {"name": "xor"},
                        "optimizer": {"name": "adam"}})
    assert r.status_code == 201, r.text[:300]
    sid = r.json()["id"]
    assert c.post(f"{S}/{sid}/train", json={"epochs": 2}).status_code == 200  # Adam's state
    n = 100_000

    async def grow() -> None:
        async with c.app.state.store.use(sid) as s:  # type: ignore[attr-defined]
            tiny = 1.2345678901234567e-300
            s.trainer.history = History(list(range(n)), [tiny] * n, [tiny] * n,
                                        [[-LONGEST] * 9 for _ in range(n)])
            s.trainer.epoch = n

    c.portal.call(grow)  # type: ignore[union-attr]
    r = c.get(f"{S}/{sid}/export")
    assert r.status_code == 200 and len(r.content) <= limit, len(r.content)
    r = c.post(f"{S}/import", content=r.content, headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text[:300]
