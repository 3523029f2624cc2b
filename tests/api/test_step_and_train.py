"""forward / backward / update / step and train of API.md §4: the numbers against the
independent reference, and every error path (409, 422)."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    ref_sigmoid_pass,
    sigmoid,
    weights_of,
)


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
