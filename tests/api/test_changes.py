"""PATCH, PUT weights and reset of API.md §4: success paths and every error path (422)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.api.helpers import (
    SESSIONS,
    XOR_X,
    XOR_Y,
    Api,
    arr,
    assert_422,
    lesson_weights,
    ref_sigmoid_pass,
)


# --- PATCH ------------------------------------------------------------------------------------
def test_patch_learning_rate_keeps_weights_and_the_pass(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    api.op(sid, "forward", {"through": "all"})
    before = api.op(sid, "backward", {"through": "all"})
    s = api.patch(sid, {"learning_rate": 0.7})
    assert s["config"]["learning_rate"] == 0.7
    assert s["layers"] == before["layers"]  # weights and trace untouched
    assert s["cursor"] == {"next": "update", "layer": None}
    s = api.op(sid, "update")
    W1, W2 = lesson_weights()
    g = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)["grad_W"]
    np.testing.assert_allclose(arr(s["layers"][0]["W"]), W1 - 0.7 * g[0], rtol=1e-13)
    np.testing.assert_allclose(arr(s["layers"][1]["W"]), W2 - 0.7 * g[1], rtol=1e-13)
    assert api.get(sid)["config"]["learning_rate"] == 0.7


def test_patch_train_bias_freezes_biases_only(api: Api) -> None:
    state = api.create(layers=[2, 3, 1], init={"bias": 0.5})
    sid = state["id"]
    s = api.patch(sid, {"train_bias": False})
    assert s["config"]["train_bias"] is False
    assert s["layers"] == state["layers"]
    s = api.train(sid, 3)
    assert [layer["b"] for layer in s["layers"]] == [[0.5] * 3, [0.5]]
    assert s["layers"][0]["W"] != state["layers"][0]["W"]
    s = api.patch(sid, {"train_bias": True})
    s = api.train(sid, 1)
    assert s["layers"][0]["b"] != [0.5] * 3


def test_patch_regularization_changes_the_objective(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    api.op(sid, "forward")
    s = api.patch(sid, {"regularization": {"kind": "l2", "rate": 0.1}})
    assert s["config"]["regularization"] == {"kind": "l2", "rate": 0.1}
    W1, W2 = lesson_weights()
    assert s["layers"][0]["W"] == W1.tolist()
    ref = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)
    s = api.op(sid, "forward", {"through": "all"})
    l2 = 0.5 * 0.1 * (np.sum(W1**2) + np.sum(W2**2))
    assert s["loss"] == pytest.approx(ref["loss"] + l2, rel=1e-14)
    s = api.op(sid, "backward", {"through": "all"})
    np.testing.assert_allclose(arr(s["layers"][0]["grad_W"]), ref["grad_W"][0] + 0.1 * W1,
                               rtol=1e-13)
    # Only the rate given: the kind stays l2. Then l1.
    assert api.patch(sid, {"regularization": {"rate": 0.2}})["config"]["regularization"] == {
        "kind": "l2", "rate": 0.2}
    api.patch(sid, {"regularization": {"kind": "l1", "rate": 0.05}})
    s = api.op(sid, "forward", {"through": "all"})
    l1 = 0.05 * (np.sum(np.abs(W1)) + np.sum(np.abs(W2)))
    assert s["loss"] == pytest.approx(ref["loss"] + l1, rel=1e-14)
    s = api.op(sid, "backward", {"through": "all"})
    np.testing.assert_allclose(arr(s["layers"][1]["grad_W"]),
                               ref["grad_W"][1] + 0.05 * np.sign(W2), rtol=1e-13)


def test_patch_batch_size_and_focus(api: Api) -> None:
    state = api.create(preset="seed-xor")
    sid = state["id"]
    s = api.patch(sid, {"batch_size": 2})
    assert s["config"]["batch_size"] == 2 and s["batch"]["size"] == 2
    assert s["layers"] == state["layers"]
    s = api.train(sid, 3)
    assert s["epoch"] == 3 and s["iteration"] == 6 and len(s["history"]) == 3
    s = api.patch(sid, {"batch_size": None})
    assert s["batch"]["size"] == 4
    assert api.train(sid, 1)["iteration"] == 7
    # focus: with a batch over 32 samples the trace defaults to the focus sample.
    sid = api.create(dataset={"name": "gauss", "samples": 100, "test_ratio": 0.0})["id"]
    every = api.get(sid, samples="all")["batch"]
    assert api.get(sid)["batch"]["indices"] == [0]
    s = api.patch(sid, {"focus": 37})
    assert s["config"]["focus"] == 37
    assert s["batch"]["indices"] == [37] and s["batch"]["X"] == [every["X"][37]]


@pytest.mark.parametrize(("body", "loc", "words"), [
    ({"learning_rate": 0}, ["body", "learning_rate"], ["0"]),
    ({"learning_rate": -0.5}, ["body", "learning_rate"], ["0"]),
    ({"learning_rate": 100.5}, ["body", "learning_rate"], ["learning_rate", "100"]),
    ({"learning_rate": "0.1"}, ["body", "learning_rate"], ["number"]),
    ({"batch_size": 0}, ["body", "batch_size"], ["1"]),
    ({"batch_size": 2.5}, ["body", "batch_size"], ["integer"]),
    ({"focus": -1}, ["body", "focus"], ["0"]),
    ({"focus": 4}, ["body", "focus"], ["focus", "4"]),
    ({"train_bias": "no"}, ["body", "train_bias"], ["bool"]),
    ({"regularization": {"kind": "l3"}}, ["body", "regularization", "kind"], ["l1", "l2"]),
    ({"regularization": {"kind": "l2", "rate": -1}}, ["body", "regularization", "rate"], ["0"]),
    ({"regularization": {"kind": "l2", "rate": 101}}, ["body", "regularization", "rate"],
     ["100"]),
    ({"layers": [2, 1]}, ["body", "layers"], ["not permitted"]),
    ({"weights": None}, ["body", "weights"], ["not permitted"]),
])
def test_patch_422(api: Api, body: dict[str, Any], loc: list[Any], words: list[str]) -> None:
    state = api.create(preset="seed-xor")
    body_422 = api.patch(state["id"], body, expect=422)
    assert_422(body_422, loc, *words)
    assert api.get(state["id"]) == state


def test_patch_nan_is_422(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    for raw in ('{"learning_rate": NaN}', '{"learning_rate": Infinity}',
                '{"regularization": {"kind": "l2", "rate": -Infinity}}'):
        body = api.raw("PATCH", f"{SESSIONS}/{sid}", raw, expect=422)
        assert body["detail"][0]["loc"][:2] in (["body", "learning_rate"],
                                                ["body", "regularization"])
        assert "finite" in body["detail"][0]["msg"]


# --- PUT weights ------------------------------------------------------------------------------
def test_put_weights_sets_them_and_restarts_the_pass(api: Api) -> None:
    sid = api.create(layers=[2, 2, 1])["id"]
    api.train(sid, 2)
    api.op(sid, "forward", {"through": "all"})
    layers = [{"W": [[0.1, -0.2], [0.3, 0.4]], "b": [0.5, -0.6]},
              {"W": [[0.7], [-0.8]], "b": [0.9]}]
    s = api.put_weights(sid, layers)
    assert [{"W": layer["W"], "b": layer["b"]} for layer in s["layers"]] == layers
    assert s["cursor"] == {"next": "forward", "layer": 1}
    assert all(layer["z"] is None and layer["delta"] is None for layer in s["layers"])
    assert s["epoch"] == 2  # progress kept, only the pass restarts
    s = api.op(sid, "forward", {"through": "all"})
    ref = ref_sigmoid_pass([arr(x["W"]) for x in layers], [arr(x["b"]) for x in layers],
                           XOR_X, XOR_Y)
    assert s["loss"] == pytest.approx(ref["loss"], rel=1e-14)


@pytest.mark.parametrize(("bias", "layers", "loc", "words"), [
    (False, [{"W": [[1, 2, 3, 4]]}, {"W": [[1], [1], [1], [1]]}], ["body", "layers", 0, "W"],
     ["2 × 4", "1 × 4"]),
    (False, [{"W": [[1, 2, 3], [1, 2, 3]]}, {"W": [[1], [1], [1], [1]]}],
     ["body", "layers", 0, "W"], ["2 × 4"]),
    (False, [{"W": [[1, 2, 3, 4], [1, 2, 3]]}, {"W": [[1], [1], [1], [1]]}],
     ["body", "layers", 0, "W"], ["2 × 4", "different lengths"]),
    (False, [{"W": [[1, 2, 3, 4], [1, 2, 3, 4]]}, {"W": [[1], [1], [1], []]}],
     ["body", "layers", 1, "W"], ["4 × 1"]),
    (False, [{"W": []}, {"W": [[1], [1], [1], [1]]}], ["body", "layers", 0, "W"], ["2 × 4"]),
    (False, [{"W": [[1, 2, 3, 4], [1, 2, 3, 4]]}, {"W": [[1, 1, 1, 1]]}],
     ["body", "layers", 1, "W"], ["4 × 1"]),
    (False, [{"W": [[1, 2, 3, 4], [1, 2, 3, 4]]}], ["body", "layers"], ["2"]),
    (False, [{"W": [[1, 2, 3, 4], [1, 2, 3, 4]], "b": [0, 0, 0, 0]}, {"W": [[1]] * 4}],
     ["body", "layers", 0, "b"], ["bias"]),
    (True, [{"W": [[1, 2, 3, 4], [1, 2, 3, 4]]}, {"W": [[1]] * 4, "b": [0]}],
     ["body", "layers", 0, "b"], ["4"]),
    (True, [{"W": [[1, 2, 3, 4], [1, 2, 3, 4]], "b": [0, 0, 0]}, {"W": [[1]] * 4, "b": [0]}],
     ["body", "layers", 0, "b"], ["4"]),
    (False, [{"W": [[1, 2, 3, 4], [1, 2, 3, 1.5e6]]}, {"W": [[1]] * 4}],
     ["body", "layers", 0, "W"], ["1e+06"]),
    (True, [{"W": [[1, 2, 3, 4], [1, 2, 3, 4]], "b": [0, 0, 0, -2e6]}, {"W": [[1]] * 4, "b": [0]}],
     ["body", "layers", 0, "b"], ["1e+06"]),
    (False, [{"W": [[1, 2, 3, 4], [1, 2, 3, "4"]]}, {"W": [[1]] * 4}],
     ["body", "layers", 0, "W", 1, 3], ["number"]),
    (False, [{"W": [[1, 2, 3, 4], [1, 2, 3, 4]], "c": 1}, {"W": [[1]] * 4}],
     ["body", "layers", 0, "c"], ["not permitted"]),
])
def test_put_weights_422(api: Api, bias: bool, layers: Any, loc: list[Any],
                         words: list[str]) -> None:
    state = api.create(preset="seed-xor", bias=bias)
    body = api.put_weights(state["id"], layers, expect=422)
    assert_422(body, loc, *words)
    assert api.get(state["id"]) == state


def test_put_weights_non_finite_is_422(api: Api) -> None:
    state = api.create(preset="seed-xor")
    for bad in ("NaN", "Infinity", "-Infinity"):
        raw = ('{"layers": [{"W": [[1, 2, 3, 4], [1, 2, ' + bad + ', 4]]}, '
               '{"W": [[1], [1], [1], [1]]}]}')
        body = api.raw("PUT", f"{SESSIONS}/{state['id']}/weights", raw, expect=422)
        assert_422(body, ["body", "layers", 0, "W", 1, 2], "finite")
    assert api.get(state["id"]) == state


# --- reset ------------------------------------------------------------------------------------
def test_reset_same_seed_same_weights(api: Api) -> None:
    state = api.create(preset="seed-xor")
    sid = state["id"]
    api.train(sid, 30)
    api.op(sid, "forward")
    s = api.op(sid, "reset")
    assert s["id"] == sid
    assert s["epoch"] == 0 and s["iteration"] == 0 and s["history"] == []
    assert s["cursor"] == {"next": "forward", "layer": 1} and s["loss"] is None
    W1, W2 = lesson_weights()
    assert s["layers"][0]["W"] == W1.tolist() and s["layers"][1]["W"] == W2.tolist()
    # The same state as at creation, three operations later (undoable, so counted).
    assert s == state | {"id": sid, "version": 3, "undo": {"back": 3, "forward": 0}}


def test_reset_with_a_new_config(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    api.train(sid, 5)
    s = api.op(sid, "reset", {"preset": "seed-xor", "layers": [2, 3, 1], "init": {"seed": 4}})
    assert s["id"] == sid and s["epoch"] == 0
    assert s["config"]["layers"] == [2, 3, 1]
    rng = np.random.RandomState(4)
    assert s["layers"][0]["W"] == rng.rand(2, 3).tolist()
    assert s["layers"][1]["W"] == rng.rand(3, 1).tolist()
    # The new config sticks: a plain reset re-initialises from it.
    api.train(sid, 2)
    assert api.op(sid, "reset")["layers"] == s["layers"]


def test_reset_invalid_config_is_422_and_changes_nothing(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    before = api.train(sid, 3)
    del before["ran"], before["stopped"], before["remaining"]
    body = api.op(sid, "reset", {"layers": [2, 4, 1], "learning_rate": 1000}, expect=422)
    assert_422(body, ["body", "learning_rate"], "100")
    body = api.op(sid, "reset", {"layers": [2, 4, 1], "hidden": 1}, expect=422)
    assert_422(body, ["body", "hidden"])
    body = api.op(sid, "reset", {"preset": "nope"}, expect=422)
    assert_422(body, ["body", "preset"], "seed-xor")
    assert api.get(sid) == before
