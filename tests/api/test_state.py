"""The SessionState of API.md §3: cursor, trace nulls, ?samples, loss and metrics, history and
?history decimation, divergence (and never NaN/Infinity in a response)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

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
    module_api,
    ref_sigmoid_pass,
    weights_of,
)

TRACE = ("z", "a", "delta", "grad_W", "grad_b")


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    yield from module_api()


def computed(state: dict[str, Any], key: str) -> list[bool]:
    return [layer[key] is not None for layer in state["layers"]]


@pytest.mark.parametrize("bias", [True, False])
def test_cursor_and_trace_through_a_full_pass(api: Api, bias: bool) -> None:
    """layers [2, 3, 2, 1]: L = 3. Every step's cursor and which trace entries are set."""
    s = api.create(layers=[2, 3, 2, 1], bias=bias)
    sid = s["id"]
    for key in TRACE:
        assert computed(s, key) == [False] * 3
    assert all((layer["b"] is not None) == bias for layer in s["layers"])

    for k in (1, 2, 3):
        s = api.op(sid, "forward")
        nxt = {"next": "forward", "layer": k + 1} if k < 3 else {"next": "backward", "layer": 3}
        assert s["cursor"] == nxt
        assert computed(s, "z") == computed(s, "a") == [i < k for i in range(3)]
        for key in ("delta", "grad_W", "grad_b"):
            assert computed(s, key) == [False] * 3
        assert (s["output"] is not None) == (k == 3)
        assert (s["loss"] is not None) == (k == 3)

    for k in (3, 2, 1):
        s = api.op(sid, "backward")
        nxt = {"next": "backward", "layer": k - 1} if k > 1 else {"next": "update", "layer": None}
        assert s["cursor"] == nxt
        done = [i + 1 >= k for i in range(3)]
        assert computed(s, "delta") == computed(s, "grad_W") == done
        assert computed(s, "grad_b") == ([d and bias for d in done])
        assert computed(s, "z") == [True] * 3

    Ws, bs = weights_of(s)
    ref = ref_sigmoid_pass(Ws, bs, XOR_X, XOR_Y)
    for l in range(3):
        layer = s["layers"][l]
        np.testing.assert_allclose(arr(layer["z"]), ref["z"][l], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(arr(layer["a"]), ref["a"][l], rtol=1e-13)
        np.testing.assert_allclose(arr(layer["delta"]), ref["delta"][l], rtol=1e-12, atol=1e-17)
        np.testing.assert_allclose(arr(layer["grad_W"]), ref["grad_W"][l], rtol=1e-12,
                                   atol=1e-17)
        if bias:
            np.testing.assert_allclose(arr(layer["grad_b"]), ref["grad_b"][l], rtol=1e-12,
                                       atol=1e-17)

    s = api.op(sid, "update")
    assert s["cursor"] == {"next": "forward", "layer": 1}
    for key in TRACE:
        assert computed(s, key) == [False] * 3, key
    assert s["output"] is None
    for l in range(3):
        np.testing.assert_allclose(arr(s["layers"][l]["W"]), Ws[l] - 0.1 * ref["grad_W"][l],
                                   rtol=1e-13)
        if bias:
            assert bs is not None
            np.testing.assert_allclose(arr(s["layers"][l]["b"]),
                                       bs[l] - 0.1 * ref["grad_b"][l], rtol=1e-13, atol=1e-17)


# --- ?samples ---------------------------------------------------------------------------------
def test_samples_with_a_small_batch(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    s = api.op(sid, "forward", {"through": "all"})
    assert s["batch"]["indices"] == [0, 1, 2, 3]  # default: all (≤ 32)
    assert len(s["layers"][0]["z"]) == 4 and len(s["output"]) == 4
    assert api.get(sid, samples="all") == s
    s03 = api.get(sid, samples="0,3")
    assert s03["batch"]["indices"] == [0, 3]
    assert s03["batch"]["X"] == [[0.0, 0.0], [1.0, 1.0]]
    assert s03["batch"]["Y"] == [[0.0], [0.0]]
    assert s03["layers"][0]["z"] == [s["layers"][0]["z"][0], s["layers"][0]["z"][3]]
    assert s03["output"] == [s["output"][0], s["output"][3]]
    # grad_W is over the whole batch, not per sample: the same either way.
    assert s03["layers"][1]["W"] == s["layers"][1]["W"]
    # The selection is a view: loss and metrics are of the whole batch.
    assert s03["loss"] == s["loss"] and s03["metrics"] == s["metrics"]
    # Operations take ?samples too.
    s = api.op(sid, "backward", samples="2")
    assert s["batch"]["indices"] == [2] and len(s["layers"][1]["delta"]) == 1


def test_samples_with_a_large_batch_defaults_to_the_focus(api: Api) -> None:
    sid = api.create(dataset={"name": "circle", "samples": 80, "test_ratio": 0.25},
                     focus=5)["id"]
    s = api.op(sid, "forward", {"through": "all"})
    assert s["batch"]["size"] == 60
    assert s["batch"]["indices"] == [5] and len(s["layers"][0]["a"]) == 1
    every = api.get(sid, samples="all")
    assert every["batch"]["indices"] == list(range(60))
    assert len(every["layers"][0]["a"]) == 60 and len(every["output"]) == 60
    assert s["output"] == [every["output"][5]]
    assert s["batch"]["X"] == [every["batch"]["X"][5]]
    # The loss is of the whole batch (60 samples), whatever is shown.
    ref = ref_sigmoid_pass(*weights_of(every), arr(every["batch"]["X"]),
                           arr(every["batch"]["Y"]))
    assert s["loss"] == pytest.approx(ref["loss"], rel=1e-13)
    # 33 samples is over the threshold of 32 …
    sid = api.create(dataset={"X": [[i / 33, 0.5] for i in range(33)],
                              "Y": [[0.5]] * 33})["id"]
    assert api.get(sid)["batch"]["indices"] == [0]
    # … 32 is not.
    sid = api.create(dataset={"X": [[i / 32, 0.5] for i in range(32)],
                              "Y": [[0.5]] * 32})["id"]
    assert api.get(sid)["batch"]["indices"] == list(range(32))


@pytest.mark.parametrize("samples", ["x", "4", "-1", "1,,2", "0;1", "all,1", "1.5"])
def test_bad_samples_is_422(api: Api, samples: str) -> None:
    sid = api.create(preset="seed-xor")["id"]
    assert_422(api.get(sid, expect=422, samples=samples), ["query", "samples"], "sample")
    assert_422(api.op(sid, "forward", expect=422, samples=samples), ["query", "samples"])


# --- loss, metrics ----------------------------------------------------------------------------
def test_loss_and_metrics_at_the_last_completed_forward_pass(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    s = api.get(sid)
    assert s["loss"] is None and s["metrics"] == {"mse": None, "accuracy": None}
    s = api.op(sid, "forward")
    assert s["loss"] is None  # the pass is not complete
    s = api.op(sid, "forward")
    W1, W2 = lesson_weights()
    y = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)["y_hat"]
    # API.md's example: L = ½Σ(ŷ − y)² = 0.6361339127510177, the lesson's printed
    # np.mean((layer_2 − y)**2) = 0.31806695637550886, accuracy 0.5 (threshold 0.5).
    assert s["loss"] == pytest.approx(0.6361339127510177, rel=1e-15)
    assert s["metrics"]["mse"] == pytest.approx(0.31806695637550886, rel=1e-15)
    assert s["metrics"]["mse"] == pytest.approx(float(np.mean((y - XOR_Y) ** 2)), rel=1e-15)
    assert s["metrics"]["accuracy"] == float(np.mean((y > 0.5) == (XOR_Y > 0.5))) == 0.5
    first = s["loss"], s["metrics"]
    # Backward, update and the next pass's first layer keep the last completed one.
    api.op(sid, "backward", {"through": "all"})
    s = api.op(sid, "update")
    assert (s["loss"], s["metrics"]) == first
    s = api.op(sid, "forward")
    assert (s["loss"], s["metrics"]) == first
    s = api.op(sid, "forward")
    assert s["loss"] < first[0]


def test_mean_reduction_and_regression_accuracy(api: Api) -> None:
    X = [[0.1, 0.2], [0.3, -0.4], [1.0, 0.5]]
    Y = [[0.25], [0.5], [0.75]]
    s = api.create(preset="seed-xor", reduction="mean", dataset={"X": X, "Y": Y})
    assert s["task"] == "regression"
    s = api.op(s["id"], "forward", {"through": "all"})
    W1, W2 = lesson_weights()
    ref = ref_sigmoid_pass([W1, W2], None, arr(X), arr(Y))
    assert s["loss"] == pytest.approx(ref["loss"] / 3, rel=1e-14)
    assert s["metrics"]["mse"] == pytest.approx(float(np.mean((ref["y_hat"] - arr(Y)) ** 2)),
                                                rel=1e-14)
    assert s["metrics"]["accuracy"] is None
    # per-sample ℓ_n = ½Σ_k(ŷ − y)²
    np.testing.assert_allclose(s["per_sample_loss"],
                               0.5 * np.sum((ref["y_hat"] - arr(Y)) ** 2, axis=1), rtol=1e-14)


def test_metrics_with_two_outputs(api: Api) -> None:
    X = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]
    Y = [[0.2, 0.9], [0.4, 0.1], [0.6, 0.3]]
    s = api.create(preset="seed-xor", layers=[2, 3, 2], dataset={"X": X, "Y": Y})
    s = api.op(s["id"], "forward", {"through": "all"})
    ref = ref_sigmoid_pass(*weights_of(s), arr(X), arr(Y))
    # mean over all samples and outputs: ΣΣ(ŷ − y)² / (3 · 2) = 2L / 6
    assert s["metrics"]["mse"] == pytest.approx(2 * ref["loss"] / 6, rel=1e-14)


# --- history ----------------------------------------------------------------------------------
def lesson_losses(epochs: int) -> list[float]:
    W1, W2 = lesson_weights()
    out = []
    for _ in range(epochs):
        ref = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)
        out.append(ref["loss"])
        W1, W2 = W1 - 0.1 * ref["grad_W"][0], W2 - 0.1 * ref["grad_W"][1]
    return out


def test_history_one_entry_per_finished_epoch(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    expected = lesson_losses(12)
    api.op(sid, "forward", {"through": "all"})
    s = api.op(sid, "backward", {"through": "all"})
    assert s["history"] == [] and s["history_length"] == 0
    s = api.op(sid, "update")
    assert [h["epoch"] for h in s["history"]] == [0]
    assert s["history"][0]["loss"] == pytest.approx(expected[0], rel=1e-15)
    assert s["history"][0]["test_loss"] is None
    s = api.train(sid, 11)
    assert [h["epoch"] for h in s["history"]] == list(range(12))
    np.testing.assert_allclose([h["loss"] for h in s["history"]], expected, rtol=1e-13)
    assert s["history_length"] == 12


def test_history_with_mini_batches_is_the_mean_of_the_batch_losses(api: Api) -> None:
    sid = api.create(preset="seed-xor", batch_size=3)["id"]  # batches of 3 and 1
    losses, seen = [], []
    for _ in range(2):  # the two batches of epoch 0, one full pass each
        s = api.op(sid, "forward", {"through": "all"})
        idx = s["batch"]["indices"]
        assert s["batch"]["size"] == len(idx)
        seen += idx
        Ws, _ = weights_of(s)
        ref = ref_sigmoid_pass(Ws, None, XOR_X[idx], XOR_Y[idx])
        assert s["loss"] == pytest.approx(ref["loss"], rel=1e-14)
        losses.append(ref["loss"])
        api.op(sid, "backward", {"through": "all"})
        s = api.op(sid, "update")
        np.testing.assert_allclose(arr(s["layers"][0]["W"]), Ws[0] - 0.1 * ref["grad_W"][0],
                                   rtol=1e-13)
    assert sorted(seen) == [0, 1, 2, 3]  # every sample once per epoch
    assert [len(b) for b in (seen[:3], seen[3:])] == [3, 1]
    assert s["epoch"] == 1 and s["iteration"] == 2
    assert len(s["history"]) == 1
    assert s["history"][0]["loss"] == pytest.approx(sum(losses) / 2, rel=1e-14)


def test_history_decimation(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    full = api.train(sid, 100)["history"]
    assert [h["epoch"] for h in full] == list(range(100))
    for n in (2, 3, 7, 10, 33, 99):
        h = api.get(sid, history=n)
        pts = h["history"]
        assert h["history_length"] == 100
        assert 2 <= len(pts) <= n
        assert pts[0] == full[0] and pts[-1] == full[-1]
        epochs = [p["epoch"] for p in pts]
        assert epochs == sorted(set(epochs))
        assert all(p == full[p["epoch"]] for p in pts)
        # evenly spaced: gaps differ by at most 1 (rounding)
        gaps = np.diff(epochs)
        assert gaps.max() - gaps.min() <= 1, (n, epochs)
    assert api.get(sid, history=100)["history"] == full
    assert api.get(sid, history=1000)["history"] == full
    assert api.train(sid, 1, history=5)["history"][-1]["epoch"] == 100
    assert len(api.get(sid, history=1)["history"]) == 1
    for bad in ("0", "-3", "x", "1.5"):
        assert_422(api.get(sid, expect=422, history=bad), ["query", "history"])


def test_stored_history_is_capped_by_the_setting(
        make_client: Callable[..., TestClient]) -> None:
    api = Api(make_client(history_limit=16))
    sid = api.create(preset="seed-xor")["id"]
    s = api.train(sid, 100)
    expected = lesson_losses(100)
    assert s["history_length"] <= 16 and s["history_length"] == len(s["history"])
    assert s["history"][0]["epoch"] == 0 and s["history"][-1]["epoch"] == 99
    for h in s["history"]:
        assert h["loss"] == pytest.approx(expected[h["epoch"]], rel=1e-13)


# --- divergence -------------------------------------------------------------------------------
def diverging_session(api: Api) -> tuple[str, float]:
    """1-1 linear network, X = 1000, y = 0, η = 1: W ← W − 10⁶·W. |W| grows by ~10⁶ an epoch
    until ½(1000·W)² overflows."""
    s = api.create(layers=[1, 1], bias=False, output_activation="linear", learning_rate=1.0,
                   weights=[{"W": [[0.5]]}], dataset={"X": [[1000.0]], "Y": [[0.0]]})
    return s["id"], 0.5


def reference_divergence(w: float) -> tuple[list[float], list[float]]:
    """The contract: a step whose loss or weights would be non-finite is not applied.
    Returns (the loss of every applied epoch, the weight after each)."""
    losses, weights = [], []
    x = 1000.0
    while True:
        y_hat = x * w
        loss = 0.5 * y_hat * y_hat
        if not math.isfinite(loss):
            return losses, weights
        new = w - 1.0 * (x * y_hat)
        if not math.isfinite(new):
            return losses, weights
        losses.append(loss)
        weights.append(new)
        w = new


def test_divergent_train(api: Api) -> None:
    sid, w0 = diverging_session(api)
    losses, weights = reference_divergence(w0)
    assert 10 < len(losses) < 100
    r = api.client.post(f"{SESSIONS}/{sid}/train", json={"epochs": 1000})
    assert r.status_code == 200
    for word in ("NaN", "Infinity"):
        assert word not in r.text
    s = r.json()
    assert s["stopped"] == "diverged" and s["status"] == "diverged"
    assert s["ran"] == len(losses) == s["epoch"]
    w = s["layers"][0]["W"][0][0]
    assert math.isfinite(w) and w == pytest.approx(weights[-1], rel=1e-12)
    assert s["history"][-1]["loss"] == pytest.approx(losses[-1], rel=1e-12)
    np.testing.assert_allclose([h["loss"] for h in s["history"]], losses, rtol=1e-12)
    assert s["loss"] == pytest.approx(losses[-1], rel=1e-12)  # the last finite forward pass
    assert s["cursor"] == {"next": "forward", "layer": 1}
    # Stepping on: the forward pass is refused as well, the weights stay.
    again = api.op(sid, "forward", {"through": "all"})
    assert again["status"] == "diverged"
    assert again["layers"][0]["W"] == s["layers"][0]["W"]
    assert again["cursor"] == {"next": "forward", "layer": 1}
    again = api.train(sid, 5)
    assert again["ran"] == 0 and again["stopped"] == "diverged"
    assert again["layers"][0]["W"] == s["layers"][0]["W"]
    # Every reply stays valid JSON (the strict parser in Api rejects NaN/Infinity).
    api.get(sid, samples="all")
    api.call("GET", f"{SESSIONS}/{sid}/export")
    api.call("GET", f"{SESSIONS}/{sid}/gradcheck")
    # New weights and a smaller learning rate recover.
    api.patch(sid, {"learning_rate": 1e-7})
    s = api.put_weights(sid, [{"W": [[0.5]]}])
    assert s["status"] == "ok"
    s = api.train(sid, 3)
    assert s["status"] == "ok" and s["stopped"] is None and s["ran"] == 3
    w = 0.5
    for _ in range(3):
        w -= 1e-7 * 1000.0 * (1000.0 * w)
    assert s["layers"][0]["W"][0][0] == pytest.approx(w, rel=1e-14)


def test_divergent_train_metrics_are_of_the_last_finite_pass(api: Api) -> None:
    sid, w0 = diverging_session(api)
    losses, _ = reference_divergence(w0)
    s = api.train(sid, 1000)
    assert s["loss"] == pytest.approx(losses[-1], rel=1e-12)
    # One sample, one output: mse = (ŷ − y)² = 2L.
    assert s["metrics"]["mse"] == pytest.approx(2 * losses[-1], rel=1e-12)


def test_divergent_update_step_is_refused(api: Api) -> None:
    """Stepping by hand: the update whose weights would overflow is not applied."""
    s = api.create(layers=[1, 1], bias=False, output_activation="linear", learning_rate=100.0,
                   weights=[{"W": [[1e6]]}], dataset={"X": [[1e6]], "Y": [[0.0]]})
    sid = s["id"]
    # ŷ = 1e12, L = ½·1e24 (finite); grad = x·ŷ = 1e18; W − 100·1e18 is finite: applied.
    s = api.op(sid, "forward", {"through": "all"})
    assert s["loss"] == pytest.approx(0.5e24, rel=1e-15)
    api.op(sid, "backward", {"through": "all"})
    s = api.op(sid, "update")
    assert s["status"] == "ok"
    w = 1e6 - 100.0 * 1e18
    assert s["layers"][0]["W"] == [[w]]
    # Next: ŷ ≈ −1e26, L ≈ 5e51, grad ≈ −1e32, W ≈ 1e34 … eventually a step overflows.
    for _ in range(200):
        s = api.op(sid, "step")
        if s["status"] == "diverged":
            break
    assert s["status"] == "diverged"
    assert s["cursor"] == {"next": "forward", "layer": 1}
    assert all(math.isfinite(v) for row in s["layers"][0]["W"] for v in row)
    assert math.isfinite(s["loss"])


# --- the config reaches the engine: every activation and loss, independently computed ----------
ACT = {
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "linear": lambda z: z,
    "softmax": lambda z: np.exp(z - z.max(1, keepdims=True))
    / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True),
}


@pytest.mark.parametrize(("hidden", "output", "loss", "reduction"), [
    ("tanh", "linear", "squared_error", "mean"),
    ("relu", "sigmoid", "binary_cross_entropy", "sum"),
    ("leaky_relu", "sigmoid", "binary_cross_entropy", "mean"),
    ("linear", "softmax", "cross_entropy", "sum"),
    ("sigmoid", "softmax", "cross_entropy", "mean"),
    ("relu", "tanh", "squared_error", "sum"),
])
def test_loss_and_activation_names_reach_the_engine(api: Api, hidden: str, output: str,
                                                    loss: str, reduction: str) -> None:
    X = arr([[0.5, -1.0, 2.0], [-0.3, 0.8, 0.1], [1.5, 0.2, -0.7], [0.0, -0.4, 0.9]])
    if output == "softmax":
        Y = arr([[1, 0], [0, 1], [0.3, 0.7], [1, 0]])
    else:
        Y = arr([[1, 0], [0, 1], [1, 1], [0, 0]]) * (0.8 if loss == "squared_error" else 1.0)
    s = api.create(layers=[3, 4, 2], hidden_activation=hidden, output_activation=output,
                   loss=loss, reduction=reduction, init={"scheme": "normal", "seed": 3,
                                                         "bias": 0.1},
                   dataset={"X": X.tolist(), "Y": Y.tolist()})
    (W1, W2), bs = weights_of(s)
    assert bs is not None
    a1 = ACT[hidden](X @ W1 + bs[0])
    y_hat = ACT[output](a1 @ W2 + bs[1])
    if loss == "squared_error":
        ell = 0.5 * np.sum((y_hat - Y) ** 2, axis=1)
    elif loss == "binary_cross_entropy":
        ell = -np.sum(Y * np.log(y_hat) + (1 - Y) * np.log(1 - y_hat), axis=1)
    else:
        ell = -np.sum(Y * np.log(y_hat), axis=1)
    expected = ell.sum() / (4 if reduction == "mean" else 1)
    s = api.op(s["id"], "forward", {"through": "all"})
    np.testing.assert_allclose(arr(s["output"]), y_hat, rtol=1e-12)
    np.testing.assert_allclose(s["per_sample_loss"], ell, rtol=1e-12)
    assert s["loss"] == pytest.approx(expected, rel=1e-12)
    s = api.op(s["id"], "backward")
    if loss != "squared_error":  # the fused output deltas: scale · (ŷ − y) (Σ_k y_k = 1)
        scale = 0.25 if reduction == "mean" else 1.0
        np.testing.assert_allclose(arr(s["layers"][1]["delta"]), scale * (y_hat - Y),
                                   rtol=1e-12, atol=1e-15)
    g = api.call("GET", f"{SESSIONS}/{s['id']}/gradcheck")
    assert g["max_rel_error"] < 1e-5


def test_test_loss_at_the_start_of_each_epoch(api: Api) -> None:
    X_test = [[0.2, 0.9], [0.7, 0.1], [1.0, 1.0]]
    Y_test = [[1.0], [1.0], [0.0]]
    s = api.create(preset="seed-xor", dataset={"X": XOR_X.tolist(), "Y": XOR_Y.tolist(),
                                               "X_test": X_test, "Y_test": Y_test})
    s = api.train(s["id"], 3)
    W1, W2 = lesson_weights()
    for h in s["history"]:
        test = ref_sigmoid_pass([W1, W2], None, arr(X_test), arr(Y_test))["loss"]
        train = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)
        assert h["test_loss"] == pytest.approx(test, rel=1e-13)
        assert h["loss"] == pytest.approx(train["loss"], rel=1e-13)
        W1, W2 = W1 - 0.1 * train["grad_W"][0], W2 - 0.1 * train["grad_W"][1]
    assert s["test_loss"] == s["history"][-1]["test_loss"]
