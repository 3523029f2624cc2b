"""POST /sessions, GET and DELETE of API.md §4: success paths and every error path."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from fastapi.testclient import TestClient

from tests.api.helpers import (
    SEED_XOR,
    SESSIONS,
    XOR_X,
    XOR_Y,
    Api,
    arr,
    lesson_weights,
)
from tests.conftest import API


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
