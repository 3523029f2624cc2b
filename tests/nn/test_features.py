"""Input features, added points and per-layer gradient norms: the API against hand-computed
features and an independent reference (tanh hidden, sigmoid output, ½Σ squared error)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.api.helpers import SESSIONS, Api, arr, assert_422, module_api, weights_of

RAW = np.array([[0.5, -1.0], [2.0, 0.25], [-1.5, 1.5], [0.1, -2.2], [3.0, 1.0]])
TARGETS = np.array([[0.0], [1.0], [1.0], [0.0], [1.0]])
BY_HAND = {
    "x1": lambda x1, x2: x1, "x2": lambda x1, x2: x2,
    "x1_sq": lambda x1, x2: x1 ** 2, "x2_sq": lambda x1, x2: x2 ** 2,
    "x1_x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: math.sin(x1), "sin_x2": lambda x1, x2: math.sin(x2),
}


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    yield from module_api()


def _ref_grads(Ws: list[np.ndarray], bs: list[np.ndarray], X: np.ndarray,
               Y: np.ndarray) -> list[np.ndarray]:
    """∂L/∂W per layer for tanh hidden layers, a sigmoid output and L = ½Σ(ŷ − y)²."""
    acts, zs = [X], []
    for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        z = acts[-1] @ W + b
        zs.append(z)
        acts.append(1 / (1 + np.exp(-z)) if l == len(Ws) - 1 else np.tanh(z))
    delta = (acts[-1] - Y) * acts[-1] * (1 - acts[-1])
    grads: list[np.ndarray] = [np.empty(0)] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        grads[l] = acts[l].T @ delta
        if l:
            delta = (delta @ Ws[l].T) * (1 - acts[l] ** 2)
    return grads


@pytest.mark.parametrize("feature", list(BY_HAND))
def test_every_feature_is_exact_in_the_data_and_in_gradcheck(api: Api, feature: str) -> None:
    features = ["x1", feature] if feature != "x1" else ["x1", "x2_sq"]
    s = api.create(layers=[2, 3, 1], hidden_activation="tanh", features=features,
                   init={"bias": 0.1, "seed": 4},
                   dataset={"X": RAW.tolist(), "Y": TARGETS.tolist()})
    want = np.array([[BY_HAND[f](x1, x2) for f in features] for x1, x2 in RAW])
    np.testing.assert_allclose(arr(s["batch"]["X"]), want, rtol=1e-15, atol=0)
    g = api.call("GET", f"{SESSIONS}/{s['id']}/gradcheck")
    assert g["max_rel_error"] is not None and g["max_rel_error"] < 1e-6
    Ws, bs = weights_of(s)
    assert bs is not None
    ref = _ref_grads(Ws, bs, want, TARGETS)
    for l, layer in enumerate(g["layers"]):
        np.testing.assert_allclose(arr(layer["grad_W"]), ref[l], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(arr(layer["grad_W_numeric"]), ref[l], rtol=1e-5, atol=1e-8)


def test_features_must_match_the_first_layer(api: Api) -> None:
    body = api.create(422, preset="circle", features=["x1", "x2", "x1_sq"])
    assert_422(body, ["body", "features"], "layers[0]", "3")
    body = api.create(422, preset="circle", layers=[2, 4, 1], features=["x1", "x1"])
    assert_422(body, ["body", "features"], "repeats")
    body = api.create(422, preset="circle", features=["x3"])
    assert body["detail"][0]["loc"][:2] == ["body", "features"]


def test_features_survive_export_and_import(api: Api) -> None:
    s = api.create(preset="circle", layers=[4, 3, 1],
                   features=["x1", "x2", "sin_x1", "x1_x2"])
    api.train(s["id"], 3)
    doc = api.call("GET", f"{SESSIONS}/{s['id']}/export")
    assert doc["config"]["features"] == ["x1", "x2", "sin_x1", "x1_x2"]
    t = api.call("POST", f"{SESSIONS}/import", 201, json=doc)
    a, b = api.get(s["id"]), api.get(t["id"])
    assert a["batch"]["X"] == b["batch"]["X"] and a["layers"] == b["layers"]
    assert a["history"] == b["history"]
    # Both continue bit for bit.
    assert api.train(s["id"], 2)["layers"] == api.train(t["id"], 2)["layers"]


def test_add_point_keeps_weights_and_is_exported(api: Api) -> None:
    s = api.create(preset="seed-xor")
    sid = s["id"]
    api.op(sid, "forward")
    after = api.op(sid, "points", {"x1": 0.5, "x2": 0.5, "y": 1})
    assert after["layers"][0]["W"] == s["layers"][0]["W"]
    assert after["cursor"] == {"next": "forward", "layer": 1}
    assert after["batch"]["size"] == 5 and after["batch"]["X"][-1] == [0.5, 0.5]
    assert after["batch"]["Y"][-1] == [1.0]
    assert after["config"]["dataset"]["extra"] == [[0.5, 0.5, 1.0]]
    body = api.op(sid, "points", {"x1": 0.5, "x2": 0.5, "y": 0.3}, expect=422)
    assert_422(body, ["body", "y"], "0 or 1")
    doc = api.call("GET", f"{SESSIONS}/{sid}/export")
    t = api.call("POST", f"{SESSIONS}/import", 201, json=doc)
    assert t["batch"]["X"] == after["batch"]["X"]
    api.op("nope", "points", {"x1": 0, "x2": 0, "y": 1}, expect=404)


def test_grad_norms_per_epoch_match_a_reference(api: Api) -> None:
    s = api.create(layers=[2, 3, 1], hidden_activation="tanh", init={"bias": 0.1, "seed": 2},
                   learning_rate=0.5)
    Ws, bs = weights_of(s)
    assert bs is not None
    X = arr(s["batch"]["X"])
    Y = arr(s["batch"]["Y"])
    want = []
    for _ in range(3):  # full-batch gradient descent, by hand
        grads = _ref_grads(Ws, bs, X, Y)
        want.append([float(np.sqrt((g ** 2).sum())) for g in grads])
        # biases update too: recompute their gradient for the step
        acts = [X]
        for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            z = acts[-1] @ W + b
            acts.append(1 / (1 + np.exp(-z)) if l == len(Ws) - 1 else np.tanh(z))
        delta = (acts[-1] - Y) * acts[-1] * (1 - acts[-1])
        gbs: list[np.ndarray] = [np.empty(0)] * 2
        for l in (1, 0):
            gbs[l] = delta.sum(axis=0)
            if l:
                delta = (delta @ Ws[l].T) * (1 - acts[l] ** 2)
        Ws = [W - 0.5 * g for W, g in zip(Ws, grads, strict=True)]
        bs = [b - 0.5 * g for b, g in zip(bs, gbs, strict=True)]
    got = api.train(s["id"], 3)["history"]
    assert [h["epoch"] for h in got] == [0, 1, 2]
    for h, w in zip(got, want, strict=True):
        np.testing.assert_allclose(h["grad_norm"], w, rtol=1e-10)
    # Stepping through an epoch records the same kind of point.
    api.op(s["id"], "forward", {"through": "all"})
    api.op(s["id"], "backward", {"through": "all"})
    grads = _ref_grads(Ws, bs, X, Y)
    last = api.op(s["id"], "update")["history"][-1]
    np.testing.assert_allclose(last["grad_norm"], [np.sqrt((g ** 2).sum()) for g in grads],
                               rtol=1e-10)


def test_mini_batch_grad_norms_are_recorded_and_exported(api: Api) -> None:
    s = api.create(preset="spiral")
    st = api.train(s["id"], 2)
    assert all(len(h["grad_norm"]) == 3 and min(h["grad_norm"]) > 0 for h in st["history"])
    doc = api.call("GET", f"{SESSIONS}/{s['id']}/export")
    assert doc["history"][0]["grad_norm"] == st["history"][0]["grad_norm"]
    t: dict[str, Any] = api.call("POST", f"{SESSIONS}/import", 201, json=doc)
    assert t["history"] == st["history"]
