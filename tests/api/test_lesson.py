"""The lesson's NumPy XOR script (seeds/000_1fe9c1ad13d51577.txt) reproduced through the API.

The reference below is the lesson's algorithm, written out in the test: 2-4-1 sigmoid, no biases,
np.random.seed(1) + np.random.rand, lr 0.1, 10,000 epochs, printing np.mean((layer_2 − y)**2)
every 1000 epochs. Our history loss is L = ½Σ(ŷ − y)², so the lesson's number is 2L / 4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import Api, arr


def lesson_script(epochs: int = 10_000, lr: float = 0.1) -> dict[str, Any]:
    """The lesson's code, kept as close to the original as possible."""

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    def sigmoid_derivative(x: np.ndarray) -> np.ndarray:
        return sigmoid(x) * (1 - sigmoid(x))

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    state = np.random.get_state()
    try:
        np.random.seed(1)
        weights_0 = np.random.rand(X.shape[1], 4)
        weights_1 = np.random.rand(4, 1)
    finally:
        np.random.set_state(state)
    initial = (weights_0.copy(), weights_1.copy())
    printed: dict[int, float] = {}
    every: list[float] = []
    steps: list[dict[str, np.ndarray]] = []
    for epoch in range(epochs):
        layer_0 = X
        z_1 = np.dot(layer_0, weights_0)
        layer_1 = sigmoid(z_1)
        z_2 = np.dot(layer_1, weights_1)
        layer_2 = sigmoid(z_2)
        loss = np.mean((layer_2 - y) ** 2)
        every.append(float(loss))
        if epoch % 1000 == 0:
            printed[epoch] = float(loss)
        layer_2_error = layer_2 - y
        layer_2_delta = layer_2_error * sigmoid_derivative(z_2)
        layer_1_error = layer_2_delta.dot(weights_1.T)
        layer_1_delta = layer_1_error * sigmoid_derivative(z_1)
        if epoch < 3:
            steps.append({"z_1": z_1, "layer_1": layer_1, "z_2": z_2, "layer_2": layer_2,
                          "layer_2_delta": layer_2_delta, "layer_1_delta": layer_1_delta,
                          "g1": layer_1.T.dot(layer_2_delta), "g0": layer_0.T.dot(layer_1_delta)})
        weights_1 -= layer_1.T.dot(layer_2_delta) * lr
        weights_0 -= layer_0.T.dot(layer_1_delta) * lr
    predictions = sigmoid(np.dot(sigmoid(np.dot(X, weights_0)), weights_1))
    return {"initial": initial, "printed": printed, "every": every, "steps": steps,
            "weights": (weights_0, weights_1), "predictions": predictions}


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    return lesson_script()


def test_the_reference_is_the_lesson(lesson: dict[str, Any]) -> None:
    # Sanity of the reference itself: it learns XOR, and its first printed number is the one
    # in API.md §3's example (metrics.mse 0.31806695637550886).
    assert lesson["printed"][0] == pytest.approx(0.31806695637550886, rel=1e-15)
    assert sorted(lesson["printed"]) == list(range(0, 10_000, 1000))
    assert np.all((lesson["predictions"] > 0.5) == np.array([[0], [1], [1], [0]], dtype=bool))


def test_seed_xor_reproduces_the_lesson(make_client: Callable[..., TestClient],
                                        lesson: dict[str, Any]) -> None:
    api = Api(make_client())
    s = api.create(preset="seed-xor")
    sid = s["id"]
    W0, W1 = lesson["initial"]
    assert s["layers"][0]["W"] == W0.tolist() and s["layers"][1]["W"] == W1.tolist()
    assert s["layers"][0]["b"] is None and s["layers"][1]["b"] is None

    s = api.train_to(sid, 10_000, history=1)  # loops if a call hits the time budget
    history = api.get(sid, history="all")["history"]
    assert [h["epoch"] for h in history] == list(range(10_000))
    for epoch, mse in lesson["printed"].items():
        assert history[epoch]["loss"] * 2 / 4 == pytest.approx(mse, rel=1e-9, abs=1e-12), epoch
    np.testing.assert_allclose(np.array([h["loss"] for h in history]) / 2, lesson["every"],
                               rtol=1e-9, atol=1e-12)

    final = api.get(sid)
    Wa, Wb = lesson["weights"]
    np.testing.assert_allclose(arr(final["layers"][0]["W"]), Wa, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(arr(final["layers"][1]["W"]), Wb, rtol=1e-9, atol=1e-9)
    # The predictions: one forward pass at the final weights.
    s = api.op(sid, "forward", {"through": "all"})
    np.testing.assert_allclose(arr(s["output"]), lesson["predictions"], rtol=1e-9, atol=1e-9)
    mse = float(np.mean((lesson["predictions"] - np.array([[0], [1], [1], [0]])) ** 2))
    assert s["metrics"]["mse"] == pytest.approx(mse, rel=1e-9)
    assert s["metrics"]["accuracy"] == 1.0


def test_seed_xor_within_a_tight_time_budget(make_client: Callable[..., TestClient],
                                             lesson: dict[str, Any]) -> None:
    """Cut into many train calls by a tiny budget, the run gives the same numbers."""
    api = Api(make_client(train_time_budget=0.01))
    sid = api.create(preset="seed-xor")["id"]
    s = api.train_to(sid, 3000, history=1)
    assert s["history_length"] == 3000
    hist = api.get(sid, history=2)["history"]
    assert hist[-1]["epoch"] == 2999
    assert hist[-1]["loss"] / 2 == pytest.approx(lesson["every"][2999], rel=1e-9)


def test_the_first_epochs_one_layer_at_a_time(client: TestClient,
                                              lesson: dict[str, Any]) -> None:
    """Every intermediate of the lesson's loop appears in the trace (η = 0.1, sum reduction:
    delta[2] is the lesson's layer_2_delta, delta[1] its layer_1_delta)."""
    api = Api(client)
    sid = api.create(preset="seed-xor")["id"]
    for epoch, ref in enumerate(lesson["steps"]):
        s = api.op(sid, "forward")
        np.testing.assert_allclose(arr(s["layers"][0]["z"]), ref["z_1"], rtol=1e-13)
        np.testing.assert_allclose(arr(s["layers"][0]["a"]), ref["layer_1"], rtol=1e-13)
        s = api.op(sid, "forward")
        np.testing.assert_allclose(arr(s["layers"][1]["z"]), ref["z_2"], rtol=1e-13)
        np.testing.assert_allclose(arr(s["output"]), ref["layer_2"], rtol=1e-13)
        assert s["metrics"]["mse"] == pytest.approx(lesson["every"][epoch], rel=1e-13)
        s = api.op(sid, "backward")
        np.testing.assert_allclose(arr(s["layers"][1]["delta"]), ref["layer_2_delta"],
                                   rtol=1e-12)
        np.testing.assert_allclose(arr(s["layers"][1]["grad_W"]), ref["g1"], rtol=1e-12)
        s = api.op(sid, "backward")
        np.testing.assert_allclose(arr(s["layers"][0]["delta"]), ref["layer_1_delta"],
                                   rtol=1e-12)
        np.testing.assert_allclose(arr(s["layers"][0]["grad_W"]), ref["g0"], rtol=1e-12)
        s = api.op(sid, "update")
        assert s["epoch"] == epoch + 1
    # Stepping three epochs and training the rest continue the same run.
    s = api.train(sid, 997)
    assert s["epoch"] == 1000
    hist = api.get(sid, history=2)["history"]
    assert hist[-1]["loss"] / 2 == pytest.approx(lesson["every"][999], rel=1e-9)
