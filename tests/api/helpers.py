"""Helpers for the REST API tests: a strict client wrapper (no 5xx, no NaN/Infinity in JSON),
422 assertions, and the lesson's network computed by the tests' one independent NumPy
reference of API.md §1 (tests/nn/reference.py, written from the contract, not from app/nn)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import API
from tests.nn import reference

SESSIONS = f"{API}/sessions"

# The lesson's network: what the seed-xor preset stands for.
SEED_XOR = {
    "layers": [2, 4, 1],
    "hidden_activation": "sigmoid",
    "output_activation": "sigmoid",
    "loss": "squared_error",
    "reduction": "sum",
    "learning_rate": 0.1,
    "bias": False,
    "batch_size": None,
}


def _reject_constant(name: str) -> Any:
    raise AssertionError(f"response JSON contains the non-standard constant {name}")


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN, Infinity and -Infinity (not JSON, RFC 8259)."""
    return json.loads(text, parse_constant=_reject_constant)


def module_api() -> Iterator[Api]:
    """For a module-scoped fixture: one app for the module's tests (each test makes its own
    sessions; a fresh app per test only costs time)."""
    with TestClient(create_app(Settings())) as client:
        yield Api(client)


class Api:
    """Wraps a TestClient: every call asserts the expected status, that it is never a 5xx,
    and parses the body with a parser that rejects NaN/Infinity."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = self.client.request(method, path, **kw)
        assert r.status_code < 500, f"{method} {path} → {r.status_code}: {r.text[:500]}"
        assert r.status_code == expect, f"{method} {path} → {r.status_code}: {r.text[:800]}"
        if r.status_code == 204 or not r.content:
            return None
        assert r.headers["content-type"].startswith("application/json"), r.headers
        return strict_json(r.text)

    def raw(self, method: str, path: str, body: str, expect: int = 200, **kw: Any) -> Any:
        """Send ``body`` as raw JSON text (so NaN/Infinity can be sent)."""
        return self.call(method, path, expect, content=body.encode(),
                         headers={"content-type": "application/json"}, **kw)

    # session shortcuts --------------------------------------------------------------------
    def create(self, expect: int = 201, query: dict[str, Any] | None = None,
               **config: Any) -> Any:
        return self.call("POST", SESSIONS, expect, json=config, params=query or {})

    def get(self, sid: str, expect: int = 200, **params: Any) -> Any:
        return self.call("GET", f"{SESSIONS}/{sid}", expect, params=params)

    def op(self, sid: str, name: str, body: Any = None, expect: int = 200, **params: Any) -> Any:
        kw: dict[str, Any] = {"params": params}
        if body is not None:
            kw["json"] = body
        return self.call("POST", f"{SESSIONS}/{sid}/{name}", expect, **kw)

    def train(self, sid: str, epochs: int, expect: int = 200, **params: Any) -> Any:
        return self.op(sid, "train", {"epochs": epochs}, expect, **params)

    def train_to(self, sid: str, epoch: int, **params: Any) -> Any:
        """Train until the session's epoch is ``epoch`` (train calls may stop at the time
        budget; each must still make progress)."""
        state = self.get(sid, history=1)
        while state["epoch"] < epoch:
            before = state["epoch"]
            state = self.train(sid, epoch - before, **params)
            assert state["stopped"] in (None, "time_budget"), state["stopped"]
            assert state["ran"] == state["epoch"] - before >= 1
        assert state["epoch"] == epoch
        return state

    def patch(self, sid: str, body: Any, expect: int = 200) -> Any:
        return self.call("PATCH", f"{SESSIONS}/{sid}", expect, json=body)

    def put_weights(self, sid: str, layers: Any, expect: int = 200) -> Any:
        return self.call("PUT", f"{SESSIONS}/{sid}/weights", expect, json={"layers": layers})


def assert_422(body: Any, loc: Sequence[str | int], *words: str) -> dict[str, Any]:
    """The 422 detail has an entry at exactly ``loc`` whose message contains every word."""
    detail = body["detail"]
    assert isinstance(detail, list) and detail, body
    for d in detail:
        assert set(d) == {"loc", "msg", "type"}, d
    locs = [list(d["loc"]) for d in detail]
    assert list(loc) in locs, f"expected loc {list(loc)}, got {locs}"
    entry = detail[locs.index(list(loc))]
    for w in words:
        assert w in entry["msg"], f"{w!r} not in message {entry['msg']!r}"
    return entry  # type: ignore[no-any-return]


# --- the lesson's network in the independent reference (tests/nn/reference.py) -----------------
def sigmoid(z: np.ndarray) -> np.ndarray:
    return reference.act("sigmoid", z)  # type: ignore[no-any-return]


def arr(x: Any) -> np.ndarray:
    return np.array(x, dtype=np.float64)


def weights_of(state: dict[str, Any]) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    Ws = [arr(layer["W"]) for layer in state["layers"]]
    if state["layers"][0]["b"] is None:
        return Ws, None
    return Ws, [arr(layer["b"]) for layer in state["layers"]]


def ref_sigmoid_pass(
    Ws: list[np.ndarray], bs: list[np.ndarray] | None, X: np.ndarray, Y: np.ndarray
) -> dict[str, Any]:
    """Forward and backward of an all-sigmoid network with L = ½Σ(ŷ − y)² (sum reduction)."""
    cfg = reference.Cfg(layers=(X.shape[1], *(W.shape[1] for W in Ws)), hidden="sigmoid",
                        output="sigmoid", loss="squared_error", reduction="sum",
                        bias=bs is not None)
    t = reference.backprop_trace(cfg, Ws, bs, X, Y)
    return {"z": t.zs, "a": t.acts[1:], "delta": t.deltas, "grad_W": t.grad_W,
            "grad_b": t.grad_b, "loss": t.loss, "y_hat": t.acts[-1]}


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float64)


def lesson_weights() -> tuple[np.ndarray, np.ndarray]:
    """The lesson's initial weights: np.random.seed(1); rand(2, 4); rand(4, 1)."""
    rng = np.random.RandomState(1)
    return rng.rand(2, 4), rng.rand(4, 1)
