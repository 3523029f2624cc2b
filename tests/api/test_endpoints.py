"""Every endpoint of API.md §4: success paths and every error path (404, 409, 422)."""

from __future__ import annotations

import time
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
    sigmoid,
    weights_of,
)
from tests.conftest import API

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


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    yield from module_api()


def glorot(rng: np.random.RandomState, n_in: int, n_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out))


# --- POST /sessions ---------------------------------------------------------------------------
def test_create_returns_201_location_and_a_fresh_state(api: Api) -> None:
    r = api.client.post(SESSIONS, json={"preset": "seed-xor"})
    assert r.status_code == 201
    state = r.json()
    location = r.headers["location"]
    assert location.endswith(f"{API}/sessions/{state['id']}")
    assert api.call("GET", location)["id"] == state["id"]
    assert state["epoch"] == 0 and state["iteration"] == 0
    assert state["cursor"] == {"next": "forward", "layer": 1}
    assert state["status"] == "ok"
    assert state["history"] == [] and state["loss"] is None
    W1, W2 = lesson_weights()
    assert state["layers"][0]["W"] == W1.tolist()  # bit-exact: the lesson's draw
    assert state["layers"][1]["W"] == W2.tolist()


def test_create_without_body_and_empty_body(api: Api) -> None:
    a = api.call("POST", SESSIONS, 201)
    b = api.create()
    assert a["config"] == {**b["config"]}
    assert a["layers"][0]["W"] == b["layers"][0]["W"]


def test_defaults_without_preset_are_seed_xor_with_bias_and_xavier(api: Api) -> None:
    state = api.create()
    cfg = state["config"]
    assert set(cfg) >= {"preset", "layers", "hidden_activation", "output_activation", "loss",
                        "reduction", "learning_rate", "bias", "train_bias", "init", "weights",
                        "dataset", "batch_size", "regularization", "focus",
                        "features"}
    assert cfg["preset"] is None and cfg["weights"] is None and cfg["focus"] == 2
    for key, value in SEED_XOR.items():
        if key != "bias":
            assert cfg[key] == value, key
    assert cfg["bias"] is True and cfg["train_bias"] is True
    assert cfg["init"]["scheme"] == "xavier" and cfg["init"]["seed"] == 1
    assert cfg["dataset"]["name"] == "xor"
    assert cfg["regularization"] == {"kind": "none", "rate": 0.0}
    # Glorot uniform from RandomState(1), the matrices drawn in layer order; biases 0.
    rng = np.random.RandomState(1)
    W1, W2 = glorot(rng, 2, 4), glorot(rng, 4, 1)
    np.testing.assert_allclose(arr(state["layers"][0]["W"]), W1, rtol=1e-15, atol=0)
    np.testing.assert_allclose(arr(state["layers"][1]["W"]), W2, rtol=1e-15, atol=0)
    assert state["layers"][0]["b"] == [0.0] * 4 and state["layers"][1]["b"] == [0.0]
    assert state["batch"]["X"] == XOR_X.tolist() and state["batch"]["Y"] == XOR_Y.tolist()


def test_preset_with_overrides(api: Api) -> None:
    state = api.create(preset="seed-xor", learning_rate=0.5, train_bias=False)
    cfg = state["config"]
    assert cfg["preset"] == "seed-xor"
    assert cfg["learning_rate"] == 0.5 and cfg["train_bias"] is False
    for key, value in SEED_XOR.items():
        if key != "learning_rate":
            assert cfg[key] == value, key
    W1, W2 = lesson_weights()
    assert state["layers"][0]["W"] == W1.tolist() and state["layers"][1]["W"] == W2.tolist()


def test_nested_init_merges_with_the_preset(api: Api) -> None:
    # Only the seed given: the preset's scheme (uniform [0, 1)) stays.
    state = api.create(preset="seed-xor", init={"seed": 2})
    assert state["config"]["init"]["scheme"] == "uniform"
    rng = np.random.RandomState(2)
    assert state["layers"][0]["W"] == rng.rand(2, 4).tolist()
    assert state["layers"][1]["W"] == rng.rand(4, 1).tolist()
    # Only the bounds given: uniform [-1, 1) from the preset's seed 1.
    state = api.create(preset="seed-xor", init={"low": -1.0, "high": 1.0})
    rng = np.random.RandomState(1)
    np.testing.assert_allclose(arr(state["layers"][0]["W"]), rng.rand(2, 4) * 2 - 1, rtol=1e-15)
    np.testing.assert_allclose(arr(state["layers"][1]["W"]), rng.rand(4, 1) * 2 - 1, rtol=1e-15)


def test_nested_init_scheme_change_keeps_the_seed_and_bias(api: Api) -> None:
    # Another scheme drops the old scheme's parameters but not the seed: the default seed is 1.
    state = api.create(init={"scheme": "normal", "std": 0.5, "bias": 0.25})
    assert state["config"]["init"]["seed"] == 1
    rng = np.random.RandomState(1)
    np.testing.assert_allclose(arr(state["layers"][0]["W"]), rng.standard_normal((2, 4)) * 0.5,
                               rtol=1e-15)
    np.testing.assert_allclose(arr(state["layers"][1]["W"]), rng.standard_normal((4, 1)) * 0.5,
                               rtol=1e-15)
    assert state["layers"][0]["b"] == [0.25] * 4
    state = api.create(layers=[2, 5, 1], init={"scheme": "he", "seed": 7})
    rng = np.random.RandomState(7)
    np.testing.assert_allclose(arr(state["layers"][0]["W"]),
                               rng.standard_normal((2, 5)) * np.sqrt(2 / 2), rtol=1e-15)
    np.testing.assert_allclose(arr(state["layers"][1]["W"]),
                               rng.standard_normal((5, 1)) * np.sqrt(2 / 5), rtol=1e-15)


def test_nested_dataset_and_regularization_merge(api: Api) -> None:
    # The spiral preset has 400 samples; overriding the noise keeps them.
    state = api.create(preset="spiral", dataset={"noise": 0.0})
    d = state["config"]["dataset"]
    assert d["name"] == "spiral" and d["samples"] == 400 and d["noise"] == 0.0
    assert d["test_ratio"] == 0.5
    # Training rows = samples − round(samples · test_ratio).
    assert len(api.get(state["id"], samples="all", history=1)["batch"]["indices"]) == 10
    assert api.get(state["id"])["batch"]["size"] == 10  # batch_size 10 from the preset
    state = api.create(preset="spiral", batch_size=None)
    assert state["batch"]["size"] == 200
    # Regularization: the rate alone given keeps kind none → l2 given keeps rate.
    state = api.create(regularization={"kind": "l2"})
    assert state["config"]["regularization"] == {"kind": "l2", "rate": 0.0}
    state = api.create(regularization={"kind": "l1", "rate": 0.01})
    assert state["config"]["regularization"] == {"kind": "l1", "rate": 0.01}


def test_inline_dataset_replaces_the_preset_dataset(api: Api) -> None:
    X, Y = [[0.5, -1.0], [2.0, 3.0], [1.0, 1.0]], [[0.2], [0.7], [0.4]]
    state = api.create(preset="seed-xor", dataset={"X": X, "Y": Y})
    assert state["config"]["dataset"]["name"] == "inline"
    assert state["batch"]["X"] == X and state["batch"]["Y"] == Y
    assert state["task"] == "regression"


# --- GET / DELETE -----------------------------------------------------------------------------
def test_least_recently_used_session_is_evicted(make_client: Callable[..., TestClient]) -> None:
    api = Api(make_client(max_sessions=2))
    a = api.create()["id"]
    b = api.create()["id"]
    api.get(a)  # a is now more recent than b
    c = api.create()["id"]
    api.get(b, expect=404)
    api.get(a)
    api.get(c)
    assert api.call("GET", "/healthz")["sessions"] == 2


def test_idle_session_expires(make_client: Callable[..., TestClient]) -> None:
    api = Api(make_client(session_ttl=0.2))
    a = api.create()["id"]
    b = api.create()["id"]
    for _ in range(3):
        time.sleep(0.1)
        api.get(b)  # kept alive by use
    api.get(a, expect=404)
    api.get(b)


def test_get_unknown_is_404(api: Api) -> None:
    body = api.get("no-such-session", expect=404)
    assert "not found" in body["detail"]


def test_delete_then_404_everywhere(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    assert api.call("DELETE", f"{SESSIONS}/{sid}", 204) is None
    api.get(sid, expect=404)
    api.call("DELETE", f"{SESSIONS}/{sid}", 404)
    for method, path, kw in [
        ("PATCH", "", {"json": {"learning_rate": 1.0}}),
        ("POST", "/forward", {}), ("POST", "/backward", {}), ("POST", "/update", {}),
        ("POST", "/step", {}), ("POST", "/train", {"json": {"epochs": 1}}),
        ("PUT", "/weights", {"json": {"layers": [{"W": [[0.0]]}]}}),
        ("POST", "/reset", {}), ("GET", "/gradcheck", {}), ("GET", "/export", {}),
    ]:
        api.call(method, f"{SESSIONS}/{sid}{path}", 404, **kw)


# --- forward / backward / update --------------------------------------------------------------
def test_one_layer_at_a_time_matches_the_equations(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    W1, W2 = lesson_weights()
    ref = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)

    s = api.op(sid, "forward")
    assert s["cursor"] == {"next": "forward", "layer": 2}
    np.testing.assert_allclose(arr(s["layers"][0]["z"]), XOR_X @ W1, rtol=1e-14)
    np.testing.assert_allclose(arr(s["layers"][0]["a"]), sigmoid(XOR_X @ W1), rtol=1e-14)
    assert s["layers"][1]["z"] is None and s["loss"] is None

    s = api.op(sid, "forward")
    assert s["cursor"] == {"next": "backward", "layer": 2}
    np.testing.assert_allclose(arr(s["output"]), ref["y_hat"], rtol=1e-14)
    assert s["loss"] == pytest.approx(ref["loss"], rel=1e-14)

    s = api.op(sid, "backward")
    assert s["cursor"] == {"next": "backward", "layer": 1}
    np.testing.assert_allclose(arr(s["layers"][1]["delta"]), ref["delta"][1], rtol=1e-13)
    np.testing.assert_allclose(arr(s["layers"][1]["grad_W"]), ref["grad_W"][1], rtol=1e-13)
    assert s["layers"][0]["delta"] is None

    s = api.op(sid, "backward")
    assert s["cursor"] == {"next": "update", "layer": None}
    np.testing.assert_allclose(arr(s["layers"][0]["delta"]), ref["delta"][0], rtol=1e-13)
    np.testing.assert_allclose(arr(s["layers"][0]["grad_W"]), ref["grad_W"][0], rtol=1e-13)

    s = api.op(sid, "update")
    assert s["cursor"] == {"next": "forward", "layer": 1}
    assert s["epoch"] == 1 and s["iteration"] == 1
    np.testing.assert_allclose(arr(s["layers"][0]["W"]), W1 - 0.1 * ref["grad_W"][0], rtol=1e-14)
    np.testing.assert_allclose(arr(s["layers"][1]["W"]), W2 - 0.1 * ref["grad_W"][1], rtol=1e-14)


def test_through_all(api: Api) -> None:
    sid = api.create(preset="seed-xor", layers=[2, 3, 3, 1])["id"]
    s = api.op(sid, "forward", {"through": "all"})
    assert s["cursor"] == {"next": "backward", "layer": 3}
    assert all(layer["a"] is not None for layer in s["layers"])
    Ws, _ = weights_of(s)
    ref = ref_sigmoid_pass(Ws, None, XOR_X, XOR_Y)
    assert s["loss"] == pytest.approx(ref["loss"], rel=1e-14)
    s = api.op(sid, "backward", {"through": "all"})
    assert s["cursor"] == {"next": "update", "layer": None}
    for l in range(3):
        np.testing.assert_allclose(arr(s["layers"][l]["grad_W"]), ref["grad_W"][l], rtol=1e-12)
    # A partly done pass can be finished with through: all as well.
    s = api.op(sid, "update")
    api.op(sid, "forward")
    s = api.op(sid, "forward", {"through": "all"})
    assert s["cursor"] == {"next": "backward", "layer": 3}
    api.op(sid, "backward")
    s = api.op(sid, "backward", {"through": "all"})
    assert s["cursor"] == {"next": "update", "layer": None}
    # {"through": null} and {} mean one layer.
    api.op(sid, "update")
    assert api.op(sid, "forward", {"through": None})["cursor"] == {"next": "forward", "layer": 2}
    assert api.op(sid, "forward", {})["cursor"] == {"next": "forward", "layer": 3}
    body = api.op(sid, "forward", {"through": "some"}, expect=422)
    assert_422(body, ["body", "through"], "all")


def _assert_409(api: Api, sid: str, name: str, cursor: str, body: Any = None) -> None:
    before = api.get(sid)
    r = api.op(sid, name, body, expect=409)
    assert r["cursor"] == cursor
    assert name in r["detail"] and cursor in r["detail"]
    assert api.get(sid) == before  # nothing changed


def test_409_when_the_cursor_is_elsewhere(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    # At forward: backward and update are refused.
    _assert_409(api, sid, "backward", "forward")
    _assert_409(api, sid, "backward", "forward", {"through": "all"})
    _assert_409(api, sid, "update", "forward")
    api.op(sid, "forward")  # forward, layer 2: still forward
    _assert_409(api, sid, "backward", "forward")
    _assert_409(api, sid, "update", "forward")
    api.op(sid, "forward")
    # At backward: forward and update are refused.
    _assert_409(api, sid, "forward", "backward")
    _assert_409(api, sid, "forward", "backward", {"through": "all"})
    _assert_409(api, sid, "update", "backward")
    api.op(sid, "backward")  # backward, layer 1: update is still too early
    _assert_409(api, sid, "update", "backward")
    _assert_409(api, sid, "forward", "backward")
    api.op(sid, "backward")
    # At update: forward and backward are refused.
    _assert_409(api, sid, "forward", "update")
    _assert_409(api, sid, "backward", "update")
    _assert_409(api, sid, "backward", "update", {"through": "all"})
    assert api.op(sid, "update")["cursor"] == {"next": "forward", "layer": 1}


def test_step_does_whichever_is_next(api: Api) -> None:
    sid = api.create(preset="seed-xor", layers=[2, 3, 2, 1])["id"]
    expected = [("forward", 2), ("forward", 3), ("backward", 3), ("backward", 2),
                ("backward", 1), ("update", None), ("forward", 1), ("forward", 2)]
    W0, _ = weights_of(api.get(sid))
    ref = ref_sigmoid_pass(W0, None, XOR_X, XOR_Y)
    for i, (phase, layer) in enumerate(expected):
        s = api.op(sid, "step")
        assert s["cursor"] == {"next": phase, "layer": layer}, i
        if i == 6:  # after the update
            assert s["epoch"] == 1
            for l in range(3):
                np.testing.assert_allclose(arr(s["layers"][l]["W"]),
                                           W0[l] - 0.1 * ref["grad_W"][l], rtol=1e-13)


# --- train ------------------------------------------------------------------------------------
def test_train_runs_epochs_and_reports_ran_and_stopped(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    s = api.train(sid, 25)
    assert s["ran"] == 25 and s["stopped"] is None and s["epoch"] == 25
    assert s["iteration"] == 25 and len(s["history"]) == 25
    assert s["cursor"] == {"next": "forward", "layer": 1}
    W1, W2 = lesson_weights()
    for _ in range(25):
        g = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)["grad_W"]
        W1, W2 = W1 - 0.1 * g[0], W2 - 0.1 * g[1]
    np.testing.assert_allclose(arr(s["layers"][0]["W"]), W1, rtol=1e-12)
    np.testing.assert_allclose(arr(s["layers"][1]["W"]), W2, rtol=1e-12)
    # No body: one epoch.
    s = api.call("POST", f"{SESSIONS}/{sid}/train")
    assert s["ran"] == 1 and s["epoch"] == 26


def test_train_discards_an_unfinished_pass(api: Api) -> None:
    sid = api.create(preset="seed-xor")["id"]
    api.op(sid, "forward", {"through": "all"})
    api.op(sid, "backward")
    s = api.train(sid, 1)
    assert s["ran"] == 1 and s["epoch"] == 1 and s["iteration"] == 1
    W1, W2 = lesson_weights()
    g = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)["grad_W"]
    np.testing.assert_allclose(arr(s["layers"][0]["W"]), W1 - 0.1 * g[0], rtol=1e-13)
    assert s["cursor"] == {"next": "forward", "layer": 1}
    assert all(layer["delta"] is None for layer in s["layers"])


@pytest.mark.parametrize("epochs", [0, -1, 100_001])
def test_train_422_out_of_range(api: Api, epochs: int) -> None:
    sid = api.create(preset="seed-xor")["id"]
    body = api.train(sid, epochs, expect=422)
    assert_422(body, ["body", "epochs"], "epochs", "100000")
    assert api.get(sid)["epoch"] == 0


@pytest.mark.parametrize("epochs", [1.5, "3", None, True])
def test_train_422_wrong_type(api: Api, epochs: Any) -> None:
    sid = api.create(preset="seed-xor")["id"]
    assert_422(api.train(sid, epochs, expect=422), ["body", "epochs"])
    assert_422(api.op(sid, "train", {"epochs": 1, "extra": 1}, expect=422), ["body", "extra"])


@pytest.mark.parametrize("batch_size", [None, 50])
def test_train_time_budget(make_client: Callable[..., TestClient], batch_size: int | None) -> None:
    api = Api(make_client(train_time_budget=0.05))
    sid = api.create(layers=[2, 64, 64, 1], batch_size=batch_size,
                     dataset={"name": "spiral", "samples": 2000, "test_ratio": 0.0})["id"]
    t0 = time.perf_counter()
    s = api.train(sid, 100_000, history=1)
    elapsed = time.perf_counter() - t0
    assert s["stopped"] == "time_budget"
    assert 1 <= s["ran"] < 100_000
    assert s["epoch"] == s["ran"] and s["history_length"] == s["ran"]
    assert elapsed < 5.0
    assert s["status"] == "ok"


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
    del before["ran"], before["stopped"]
    body = api.op(sid, "reset", {"layers": [2, 4, 1], "learning_rate": 1000}, expect=422)
    assert_422(body, ["body", "learning_rate"], "100")
    body = api.op(sid, "reset", {"layers": [2, 4, 1], "hidden": 1}, expect=422)
    assert_422(body, ["body", "hidden"])
    body = api.op(sid, "reset", {"preset": "nope"}, expect=422)
    assert_422(body, ["body", "preset"], "seed-xor")
    assert api.get(sid) == before


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
    del before["ran"], before["stopped"]
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


# --- catalogues, health, docs -----------------------------------------------------------------
def test_presets(api: Api) -> None:
    presets = api.call("GET", f"{API}/presets")
    by_name = {p["name"]: p for p in presets}
    assert {"seed-xor", "worked-example"} <= set(by_name)
    cfg = by_name["seed-xor"]["config"]
    for key, value in SEED_XOR.items():
        assert cfg[key] == value, key
    assert cfg["init"]["scheme"] == "uniform" and cfg["init"]["seed"] == 1
    assert (cfg["init"].get("low", 0.0), cfg["init"].get("high", 1.0)) == (0.0, 1.0)
    assert cfg["dataset"]["name"] == "xor"
    for p in presets:
        assert p["description"]
        s = api.create(preset=p["name"])
        assert s["config"]["preset"] == p["name"]
        assert s["config"]["layers"] == p["config"]["layers"]


def test_datasets(api: Api) -> None:
    listed = api.call("GET", f"{API}/datasets")
    names = [d["name"] for d in listed]
    for name in ("xor", "and", "or", "circle", "xor_scatter", "gauss", "spiral", "plane",
                 "multi_gauss"):
        assert name in names
        s = api.create(dataset={"name": name}, query={"samples": "all"})
        X, Y = arr(s["batch"]["X"]), arr(s["batch"]["Y"])
        assert X.shape[1] == 2 and Y.shape[1] == 1
        if name in ("plane", "multi_gauss"):
            assert s["task"] == "regression"
        else:
            assert s["task"] == "classification"
            assert set(np.unique(Y)) <= {0.0, 1.0}
        if name not in ("xor", "and", "or"):
            assert np.all(np.abs(X) <= 6.0)
            # Deterministic given the seed; another seed gives other points.
            again = api.create(dataset={"name": name}, query={"samples": "all"})
            assert again["batch"]["X"] == s["batch"]["X"]
            other = api.create(dataset={"name": name, "seed": 5}, query={"samples": "all"})
            assert other["batch"]["X"] != s["batch"]["X"]
    truth = {"xor": [0, 1, 1, 0], "and": [0, 0, 0, 1], "or": [0, 1, 1, 1]}
    for name, ys in truth.items():
        s = api.create(dataset={"name": name})
        assert s["batch"]["X"] == XOR_X.tolist()
        assert s["batch"]["Y"] == [[float(y)] for y in ys]


def test_healthz(client: TestClient) -> None:
    api = Api(client)  # a fresh app: it counts the sessions
    h = api.call("GET", "/healthz")
    assert h["status"] == "ok" and h["store"] == "memory" and h["sessions"] == 0
    api.create()
    api.create()
    assert api.call("GET", "/healthz")["sessions"] == 2
    assert api.client.get(f"{API}/healthz").status_code == 404  # no prefix


def test_openapi_and_docs(api: Api) -> None:
    spec = api.call("GET", "/openapi.json")
    paths = spec["paths"]
    for path, methods in {
        "/api/v1/sessions": {"post"},
        "/api/v1/sessions/{session_id}": {"get", "patch", "delete"},
        "/api/v1/sessions/{session_id}/forward": {"post"},
        "/api/v1/sessions/{session_id}/backward": {"post"},
        "/api/v1/sessions/{session_id}/update": {"post"},
        "/api/v1/sessions/{session_id}/step": {"post"},
        "/api/v1/sessions/{session_id}/train": {"post"},
        "/api/v1/sessions/{session_id}/weights": {"put"},
        "/api/v1/sessions/{session_id}/reset": {"post"},
        "/api/v1/sessions/{session_id}/gradcheck": {"get"},
        "/api/v1/sessions/{session_id}/export": {"get"},
        "/api/v1/sessions/import": {"post"},
        "/api/v1/presets": {"get"},
        "/api/v1/datasets": {"get"},
        "/healthz": {"get"},
    }.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    schemas = spec["components"]["schemas"]
    for field in ("preset", "layers", "hidden_activation", "output_activation", "loss",
                  "reduction", "learning_rate", "bias", "train_bias", "init", "weights",
                  "dataset", "batch_size", "regularization", "focus"):
        assert field in schemas["SessionConfig"]["properties"], field
    r = api.client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    js = api.client.get("/docs-assets/swagger-init.js")
    assert js.status_code == 200 and "/openapi.json" in js.text
