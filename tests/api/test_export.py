"""gradcheck, export and import of API.md §4: success paths and every error path (422)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    SESSIONS,
    XOR_X,
    XOR_Y,
    Api,
    arr,
    assert_422,
    lesson_weights,
    ref_sigmoid_pass,
    sigmoid,
    weights_of,
)


# --- gradcheck --------------------------------------------------------------------------------
def test_gradcheck_agrees_and_leaves_the_state_unchanged(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    api.op(sid, "forward")  # a pass in progress must survive the check
    before = api.get(sid)
    g = api.call("GET", f"{SESSIONS}/{sid}/gradcheck")
    assert api.get(sid) == before
    assert g["epsilon"] == 1e-6 and g["batch_indices"] == [0, 1, 2, 3]
    W1, W2 = lesson_weights()
    ref = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)
    assert [layer["layer"] for layer in g["layers"]] == [1, 2]
    for l, layer in enumerate(g["layers"]):
        np.testing.assert_allclose(arr(layer["grad_W"]), ref["grad_W"][l], rtol=1e-13)
        np.testing.assert_allclose(arr(layer["grad_W_numeric"]), ref["grad_W"][l], rtol=1e-6)
        assert layer["grad_b"] is None and layer["grad_b_numeric"] is None
        assert 0 <= layer["max_rel_error"] < 1e-6
    assert g["max_rel_error"] == max(layer["max_rel_error"] for layer in g["layers"])


def test_gradcheck_with_biases_and_epsilon(api: Api) -> None:
    sid = api.create(layers=[2, 3, 1], hidden_activation="tanh", init={"bias": 0.1})["id"]
    before = api.train(sid, 4)
    del before["ran"], before["stopped"], before["remaining"]
    g = api.call("GET", f"{SESSIONS}/{sid}/gradcheck", params={"epsilon": 1e-4})
    assert g["epsilon"] == 1e-4
    assert api.get(sid) == before
    Ws, bs = weights_of(before)
    assert bs is not None
    # tanh hidden, sigmoid output, ½Σ squared error.
    z1 = XOR_X @ Ws[0] + bs[0]
    a1 = np.tanh(z1)
    y = sigmoid(a1 @ Ws[1] + bs[1])
    d2 = (y - XOR_Y) * y * (1 - y)
    d1 = (d2 @ Ws[1].T) * (1 - a1**2)
    for layer, gW, gb in zip(g["layers"], [XOR_X.T @ d1, a1.T @ d2],
                             [d1.sum(0), d2.sum(0)], strict=True):
        np.testing.assert_allclose(arr(layer["grad_W"]), gW, rtol=1e-12)
        np.testing.assert_allclose(arr(layer["grad_b"]), gb, rtol=1e-12)
        np.testing.assert_allclose(arr(layer["grad_b_numeric"]), gb, rtol=1e-6, atol=1e-10)
        assert layer["max_rel_error"] < 1e-6
    assert g["max_rel_error"] < 1e-6


def test_gradcheck_work_limit_is_422(make_client: Callable[..., TestClient]) -> None:
    api = Api(make_client(gradcheck_max_work=50))
    sid = api.create(preset="seed-xor")["id"]
    body = api.call("GET", f"{SESSIONS}/{sid}/gradcheck", 422)
    assert body["detail"][0]["loc"] == ["query", "gradcheck"]
    assert "50" in body["detail"][0]["msg"] and "batch_size" in body["detail"][0]["msg"]
    api.patch(sid, {"batch_size": 1})
    assert api.call("GET", f"{SESSIONS}/{sid}/gradcheck")["max_rel_error"] < 1e-6


@pytest.mark.parametrize("epsilon", ["0", "-1e-6", "1e-300", "0.100001", "1", "nan", "inf",
                                     "abc"])
def test_gradcheck_bad_epsilon_is_422(api: Api, epsilon: str) -> None:
    sid = api.create(preset="seed-xor")["id"]
    body = api.call("GET", f"{SESSIONS}/{sid}/gradcheck", 422, params={"epsilon": epsilon})
    assert_422(body, ["query", "epsilon"])


def test_gradcheck_on_the_current_mini_batch(api: Api) -> None:
    sid = api.create(preset="seed-xor", batch_size=2)["id"]
    s = api.op(sid, "forward")
    g = api.call("GET", f"{SESSIONS}/{sid}/gradcheck")
    assert g["batch_indices"] == s["batch"]["indices"] and len(g["batch_indices"]) == 2
    idx = g["batch_indices"]
    ref = ref_sigmoid_pass(list(lesson_weights()), None, XOR_X[idx], XOR_Y[idx])
    np.testing.assert_allclose(arr(g["layers"][0]["grad_W"]), ref["grad_W"][0], rtol=1e-13)


# --- export / import --------------------------------------------------------------------------
def test_export_import_round_trip(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    orig = api.train(sid, 37)
    doc = api.call("GET", f"{SESSIONS}/{sid}/export")
    assert doc["format"] == "backprop-lab-export/1"
    assert doc["epoch"] == 37 and len(doc["history"]) == 37
    assert doc["config"]["layers"] == [2, 4, 1] and doc["config"]["bias"] is False
    assert [w["W"] for w in doc["weights"]] == [layer["W"] for layer in orig["layers"]]
    r = api.client.post(f"{SESSIONS}/import", json=doc)
    assert r.status_code == 201, r.text
    imp = r.json()
    assert imp["id"] != sid and r.headers["location"].endswith(f"/sessions/{imp['id']}")
    assert [layer["W"] for layer in imp["layers"]] == [layer["W"] for layer in orig["layers"]]
    assert imp["epoch"] == 37 and imp["iteration"] == 37
    assert imp["history"] == orig["history"]
    assert imp["config"] == orig["config"]
    # Continuing both gives bit-identical results.
    a, b = api.train(sid, 50), api.train(imp["id"], 50)
    assert a["layers"] == b["layers"] and a["history"] == b["history"]
    assert a["loss"] == b["loss"] and a["epoch"] == b["epoch"] == 87
    # … and the numbers are the lesson's algorithm's.
    W1, W2 = lesson_weights()
    for _ in range(87):
        grad = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)["grad_W"]
        W1, W2 = W1 - 0.1 * grad[0], W2 - 0.1 * grad[1]
    np.testing.assert_allclose(arr(b["layers"][1]["W"]), W2, rtol=1e-12)


def test_export_import_mid_epoch_with_mini_batches_is_bit_exact(api: Api) -> None:
    sid = api.create(preset="spiral", dataset={"samples": 60})["id"]
    api.train(sid, 2)
    for _ in range(2 * 7):  # two of the third epoch's three mini-batches, step by step
        api.op(sid, "step")
    s = api.get(sid)
    assert s["iteration"] == 2 * 3 + 2 and s["epoch"] == 2
    doc = api.call("GET", f"{SESSIONS}/{sid}/export")
    imp = api.call("POST", f"{SESSIONS}/import", 201, json=doc)
    assert imp["iteration"] == 8 and imp["epoch"] == 2
    a, b = api.train(sid, 3), api.train(imp["id"], 3)
    assert a["layers"] == b["layers"] and a["history"] == b["history"]
    # The partly stepped epoch counts as the first of the three.
    assert a["epoch"] == b["epoch"] == 5 and a["iteration"] == b["iteration"] == 15


def test_export_import_keeps_a_divergence(api: Api) -> None:
    sid = api.create(layers=[1, 1], bias=False, output_activation="linear", learning_rate=1.0,
                     weights=[{"W": [[0.5]]}], dataset={"X": [[1000.0]], "Y": [[0.0]]})["id"]
    s = api.train(sid, 100)
    assert s["status"] == "diverged"
    doc = api.call("GET", f"{SESSIONS}/{sid}/export")
    assert doc["status"] == "diverged"
    imp = api.call("POST", f"{SESSIONS}/import", 201, json=doc)
    assert imp["status"] == "diverged" and imp["layers"][0]["W"] == s["layers"][0]["W"]


def test_export_import_with_biases(api: Api) -> None:
    sid = api.create(preset="xor-bias")["id"]
    orig = api.train(sid, 11)
    doc = api.call("GET", f"{SESSIONS}/{sid}/export")
    imp = api.call("POST", f"{SESSIONS}/import", 201, json=doc)
    assert imp["layers"] == orig["layers"] or [
        (x["W"], x["b"]) for x in imp["layers"]] == [(x["W"], x["b"]) for x in orig["layers"]]
    assert [x["b"] for x in imp["layers"]] == [x["b"] for x in orig["layers"]]


def test_import_422(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    doc = api.call("GET", f"{SESSIONS}/{sid}/export")
    url = f"{SESSIONS}/import"
    assert_422(api.call("POST", url, 422, json={**doc, "format": "other/1"}), ["body", "format"])
    assert_422(api.call("POST", url, 422, json={**doc, "weights": []}), ["body", "weights"],
               "2")
    bad_w = [{"W": [[1.0, 2.0]]}, doc["weights"][1]]
    assert_422(api.call("POST", url, 422, json={**doc, "weights": bad_w}),
               ["body", "weights", 0, "W"], "2 × 4")
    assert_422(api.call("POST", url, 422, json={**doc, "extra": 1}), ["body", "extra"])
    assert_422(api.call("POST", url, 422, json={**doc, "epoch": -1}), ["body", "epoch"])
    assert_422(api.call("POST", url, 422, json={**doc, "config": {**doc["config"], "bogus": 1}}),
               ["body", "config", "bogus"])
    assert_422(api.call("POST", url, 422, json={**doc, "config": {**doc["config"],
                                                                   "learning_rate": 500}}),
               ["body", "config", "learning_rate"], "100")
    cfg = doc["config"]
    for bad, loc, word in [
        ({"weights": [{"W": [[1.0] * 4, [1.0]]}, doc["weights"][1]]},
         ["body", "weights", 0, "W"], "different lengths"),
        ({"weights": [{"W": [[1.0] * 4] * 2, "b": [0.0] * 4}, doc["weights"][1]]},
         ["body", "weights", 0, "b"], "bias"),
        ({"epoch_loss_sum": "zz"}, ["body", "epoch_loss_sum"], "hex"),
        ({"epoch_loss_sum": "inf"}, ["body", "epoch_loss_sum"], "finite"),
        ({"epoch_test_loss": "nan"}, ["body", "epoch_test_loss"], "finite"),
        ({"batch_pos": 1}, ["body", "batch_pos"], "0..0"),
        ({"config": {**cfg, "preset": "nope"}}, ["body", "config", "preset"], "seed-xor"),
        ({"config": {**cfg, "preset": {"a": 1}}}, ["body", "config", "preset"], "seed-xor"),
        ({"config": {**cfg, "dataset": 5}}, ["body", "config", "dataset"], "dictionary"),
        ({"config": {**cfg, "layers": [3, 1]}}, ["body", "config", "layers", 0], "2"),
        ({"config": {**cfg, "focus": 9}}, ["body", "config", "focus"], "0..3"),
        ({"config": [1]}, ["body", "config"], "dictionary"),
        ({"history": [{"epoch": 0, "loss": "x"}]}, ["body", "history", 0, "loss"], "number"),
        ({"status": "exploded"}, ["body", "status"], "diverged"),
    ]:
        assert_422(api.call("POST", url, 422, json={**doc, **bad}), loc, word)
    raw = api.client.get(f"{SESSIONS}/{sid}/export").text.replace(
        '"epoch":0', '"epoch":0,"bogus":NaN', 1)
    assert api.raw("POST", url, raw, expect=422)["detail"]
    body = api.raw("POST", url, raw.replace(',"bogus":NaN', "").replace(
        '"weights":[{"W":[[', '"weights":[{"W":[[NaN,', 1), expect=422)
    assert body["detail"][0]["loc"][:3] == ["body", "weights", 0]
