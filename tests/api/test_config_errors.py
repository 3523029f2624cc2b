"""Config rules (API.md §2, §5): every invalid config is a 422 whose detail names the field (loc)
and whose message names the rule or the limit; bodies over 1 MiB are a 413; never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import SESSIONS, Api, assert_422, module_api


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    yield from module_api()


W241 = [{"W": [[0.1] * 4] * 2}, {"W": [[0.1]] * 4}]  # a 2-4-1 net without biases

CASES: list[tuple[str, dict[str, Any], list[Any], list[str]]] = [
    # (id, config, loc, words in the message)
    ("softmax-1-output", {"layers": [2, 1], "output_activation": "softmax"},
     ["body", "output_activation"], ["softmax", "2 outputs"]),
    ("bce-needs-sigmoid", {"loss": "binary_cross_entropy", "output_activation": "tanh"},
     ["body", "loss"], ["binary_cross_entropy", "sigmoid"]),
    ("bce-with-softmax", {"layers": [2, 4, 2], "loss": "binary_cross_entropy",
                          "output_activation": "softmax"},
     ["body", "loss"], ["binary_cross_entropy", "sigmoid"]),
    ("ce-needs-softmax", {"loss": "cross_entropy"}, ["body", "loss"],
     ["cross_entropy", "softmax"]),
    ("ce-with-sigmoid-2", {"layers": [2, 4, 2], "loss": "cross_entropy",
                           "dataset": {"X": [[0, 1]], "Y": [[0, 1]]}},
     ["body", "loss"], ["cross_entropy", "softmax"]),
    # weights
    ("weights-count", {"bias": False, "weights": W241[:1]}, ["body", "weights"],
     ["weights", "2 layers"]),
    ("weights-rows", {"bias": False, "weights": [{"W": [[0.1] * 4]}, W241[1]]},
     ["body", "weights", 0, "W"], ["2 × 4"]),
    ("weights-cols", {"bias": False, "weights": [{"W": [[0.1] * 3] * 2}, W241[1]]},
     ["body", "weights", 0, "W", 0], ["4 columns"]),
    ("weights-layer2", {"bias": False, "weights": [W241[0], {"W": [[0.1, 0.1]] * 4}]},
     ["body", "weights", 1, "W", 0], ["1 columns"]),
    ("weights-missing-b", {"bias": True, "weights": W241}, ["body", "weights", 0, "b"],
     ["b", "4"]),
    ("weights-b-length", {"bias": True, "weights": [{**W241[0], "b": [0, 0]},
                                                     {**W241[1], "b": [0]}]},
     ["body", "weights", 0, "b"], ["4"]),
    ("weights-b-without-bias", {"bias": False, "weights": [{**W241[0], "b": [0] * 4},
                                                           W241[1]]},
     ["body", "weights", 0, "b"], ["bias"]),
    ("weights-too-big", {"bias": False, "weights": [{"W": [[0.1] * 4, [0.1, 2e6, 0.1, 0.1]]},
                                                    W241[1]]},
     ["body", "weights", 0, "W", 1, 1], ["1e+06"]),
    ("weights-b-too-big", {"bias": True, "weights": [{**W241[0], "b": [0, 0, 0, -1.5e6]},
                                                     {**W241[1], "b": [0]}]},
     ["body", "weights", 0, "b", 0, 3], ["1e+06"]),
    # inline data
    ("x-columns", {"dataset": {"X": [[1, 2, 3]], "Y": [[1]]}}, ["body", "dataset", "X", 0],
     ["X", "2 columns", "layers[0]"]),
    ("y-columns", {"dataset": {"X": [[1, 2]], "Y": [[1, 0]]}}, ["body", "dataset", "Y", 0],
     ["Y", "1 columns", "layers[-1]"]),
    ("ragged-x", {"dataset": {"X": [[1, 2], [1]], "Y": [[1], [0]]}},
     ["body", "dataset", "X", 1], ["2 columns"]),
    ("row-counts", {"dataset": {"X": [[1, 2], [3, 4]], "Y": [[1]]}}, ["body", "dataset", "Y"],
     ["X", "Y", "same number of rows"]),
    ("test-row-counts", {"dataset": {"X": [[1, 2]], "Y": [[1]], "X_test": [[1, 2]],
                                     "Y_test": [[1], [0]]}},
     ["body", "dataset", "Y_test"], ["same number of rows"]),
    ("test-without-y", {"dataset": {"X": [[1, 2]], "Y": [[1]], "X_test": [[1, 2]]}},
     ["body", "dataset", "Y_test"], ["X_test", "Y_test"]),
    ("x-test-columns", {"dataset": {"X": [[1, 2]], "Y": [[1]], "X_test": [[1]],
                                    "Y_test": [[1]]}},
     ["body", "dataset", "X_test", 0], ["2 columns"]),
    ("x-only", {"dataset": {"X": [[1, 2]]}}, ["body", "dataset"], ["X and Y"]),
    ("x-empty", {"dataset": {"X": [], "Y": []}}, ["body", "dataset", "X"], ["one sample"]),
    ("x-too-big", {"dataset": {"X": [[1, 1e6 + 1]], "Y": [[1]]}},
     ["body", "dataset", "X", 0, 1], ["1e+06"]),
    ("y-too-big", {"dataset": {"X": [[1, 1]], "Y": [[-2e6]]}},
     ["body", "dataset", "Y", 0, 0], ["1e+06"]),
    ("inline-samples", {"dataset": {"X": [[0, 0]] * 5001, "Y": [[0]] * 5001}},
     ["body", "dataset", "X"], ["5000"]),
    ("generated-samples", {"dataset": {"name": "spiral", "samples": 5001}},
     ["body", "dataset", "samples"], ["5000"]),
    ("generated-inputs", {"layers": [3, 4, 1], "dataset": {"name": "circle"}},
     ["body", "layers", 0], ["2"]),
    # layers
    ("layers-1", {"layers": [2]}, ["body", "layers"], ["2 to 10"]),
    ("layers-0", {"layers": []}, ["body", "layers"], ["2 to 10"]),
    ("layers-11", {"layers": [2, *[3] * 9, 1]}, ["body", "layers"], ["2 to 10", "11"]),
    ("neurons-0", {"layers": [2, 0, 1]}, ["body", "layers", 1], ["1 to 64", "0"]),
    ("neurons-65", {"layers": [2, 65, 1]}, ["body", "layers", 1], ["1 to 64", "65"]),
    ("neurons-negative", {"layers": [2, -3, 1]}, ["body", "layers", 1], ["1 to 64"]),
    # learning rate
    ("lr-0", {"learning_rate": 0}, ["body", "learning_rate"], ["greater than 0"]),
    ("lr-negative", {"learning_rate": -0.1}, ["body", "learning_rate"], ["greater than 0"]),
    ("lr-over-100", {"learning_rate": 100.000001}, ["body", "learning_rate"],
     ["learning_rate", "100"]),
    # names
    ("unknown-preset", {"preset": "seed-or"}, ["body", "preset"], ["unknown preset", "seed-xor"]),
    ("unknown-dataset", {"dataset": {"name": "moons"}}, ["body", "dataset", "name"],
     ["unknown dataset", "spiral"]),
    ("unknown-hidden", {"hidden_activation": "softmax"}, ["body", "hidden_activation"],
     ["sigmoid", "tanh"]),
    ("unknown-output", {"output_activation": "gelu"}, ["body", "output_activation"],
     ["softmax"]),
    ("unknown-loss", {"loss": "hinge"}, ["body", "loss"], ["squared_error"]),
    ("unknown-reduction", {"reduction": "max"}, ["body", "reduction"], ["sum", "mean"]),
    ("unknown-scheme", {"init": {"scheme": "zeros"}}, ["body", "init", "scheme"], ["xavier"]),
    ("unknown-reg", {"regularization": {"kind": "dropout"}}, ["body", "regularization", "kind"],
     ["l1", "l2"]),
    # unknown fields (extra="forbid")
    ("extra-top", {"hidden_layers": [4]}, ["body", "hidden_layers"], ["not permitted"]),
    ("extra-init", {"init": {"sede": 1}}, ["body", "init", "sede"], ["not permitted"]),
    ("extra-dataset", {"dataset": {"name": "xor", "size": 4}}, ["body", "dataset", "size"],
     ["not permitted"]),
    ("extra-weights", {"weights": [{"W": [[1]], "bias": [0]}]},
     ["body", "weights", 0, "bias"], ["not permitted"]),
    ("extra-reg", {"regularization": {"kind": "l2", "lambda": 0.1}},
     ["body", "regularization", "lambda"], ["not permitted"]),
    # wrong types
    ("str-lr", {"learning_rate": "0.1"}, ["body", "learning_rate"], ["number"]),
    ("str-layers", {"layers": "2,4,1"}, ["body", "layers"], ["list"]),
    ("float-layer", {"layers": [2, 4.0, 1]}, ["body", "layers", 1], ["integer"]),
    ("float-batch", {"batch_size": 2.0}, ["body", "batch_size"], ["integer"]),
    ("float-focus", {"focus": 0.0}, ["body", "focus"], ["integer"]),
    ("float-seed", {"init": {"seed": 1.5}}, ["body", "init", "seed"], ["integer"]),
    ("str-bias", {"bias": "false"}, ["body", "bias"], ["bool"]),
    ("int-bias", {"bias": 0}, ["body", "bias"], ["bool"]),
    ("str-x", {"dataset": {"X": [["0", "1"]], "Y": [[1]]}}, ["body", "dataset", "X", 0, 0],
     ["number"]),
    ("null-row", {"dataset": {"X": [None], "Y": [[1]]}}, ["body", "dataset", "X", 0],
     ["list"]),
    ("list-preset", {"preset": ["seed-xor"]}, ["body", "preset"], ["string"]),
    ("bool-lr", {"learning_rate": True}, ["body", "learning_rate"], ["number"]),
    # other limits
    ("batch-0", {"batch_size": 0}, ["body", "batch_size"], ["1"]),
    ("focus-negative", {"focus": -1}, ["body", "focus"], ["0"]),
    ("focus-beyond-data", {"focus": 4}, ["body", "focus"], ["focus", "4"]),
    ("reg-rate-negative", {"regularization": {"kind": "l2", "rate": -0.1}},
     ["body", "regularization", "rate"], ["0"]),
    ("reg-rate-too-big", {"regularization": {"kind": "l2", "rate": 1000}},
     ["body", "regularization", "rate"], ["100"]),
    ("uniform-low-high", {"init": {"scheme": "uniform", "low": 1, "high": 1}},
     ["body", "init", "high"], ["low < high"]),
    ("init-bias-too-big", {"init": {"bias": 1e7}}, ["body", "init", "bias"], ["1e+06"]),
    ("normal-std-negative", {"init": {"scheme": "normal", "std": -1}}, ["body", "init", "std"],
     ["0"]),
    ("seed-negative", {"init": {"seed": -1}}, ["body", "init", "seed"], ["0"]),
    ("seed-too-big", {"init": {"seed": 2**32}}, ["body", "init", "seed"], ["4294967295"]),
    ("noise-too-big", {"dataset": {"name": "circle", "noise": 2}}, ["body", "dataset", "noise"],
     ["1"]),
    ("test-ratio-1", {"dataset": {"name": "circle", "test_ratio": 1}},
     ["body", "dataset", "test_ratio"], ["1"]),
    ("samples-1", {"dataset": {"name": "circle", "samples": 1}},
     ["body", "dataset", "samples"], ["2"]),
]


@pytest.mark.parametrize(("config", "loc", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_invalid_config_is_422(api: Api, config: dict[str, Any], loc: list[Any],
                               words: list[str]) -> None:
    assert_422(api.create(expect=422, **config), loc, *words)
    # The same rules apply to a reset with a config, and nothing changes on a 422.
    state = api.create(preset="seed-xor")
    assert_422(api.op(state["id"], "reset", config, expect=422), loc, *words)
    assert api.get(state["id"]) == state


@pytest.mark.parametrize(("raw", "loc"), [
    ('{"learning_rate": NaN}', ["body", "learning_rate"]),
    ('{"learning_rate": Infinity}', ["body", "learning_rate"]),
    ('{"learning_rate": -Infinity}', ["body", "learning_rate"]),
    ('{"learning_rate": 1e999}', ["body", "learning_rate"]),
    ('{"dataset": {"X": [[NaN, 1]], "Y": [[1]]}}', ["body", "dataset", "X", 0, 0]),
    ('{"dataset": {"X": [[0, 1]], "Y": [[Infinity]]}}', ["body", "dataset", "Y", 0, 0]),
    ('{"init": {"scheme": "uniform", "low": -Infinity}}', ["body", "init", "low"]),
    ('{"init": {"bias": NaN}}', ["body", "init", "bias"]),
    ('{"bias": false, "weights": [{"W": [[1, 1, 1, 1], [1, NaN, 1, 1]]}, '
     '{"W": [[1], [1], [1], [1]]}]}', ["body", "weights", 0, "W", 1, 1]),
    ('{"weights": [{"W": [[1, 1, 1, 1], [1, 1, 1, 1]], "b": [0, 0, -Infinity, 0]}, '
     '{"W": [[1], [1], [1], [1]], "b": [0]}]}', ["body", "weights", 0, "b", 2]),
    ('{"regularization": {"kind": "l2", "rate": NaN}}', ["body", "regularization", "rate"]),
])
def test_non_finite_values_are_422(api: Api, raw: str, loc: list[Any]) -> None:
    body = api.raw("POST", SESSIONS, raw, expect=422)
    assert_422(body, loc, "finite")
    assert "NaN" not in json.dumps(body) and "Infinity" not in json.dumps(body)


@pytest.mark.parametrize("raw", ["{", "[1, 2]", '"seed-xor"', "null", "{'a': 1}", "\x00"])
def test_malformed_bodies_are_422(api: Api, raw: str) -> None:
    # An explicit null is not an object (the schema says so); no body at all means defaults.
    body = api.raw("POST", SESSIONS, raw, expect=422)
    assert body["detail"][0]["loc"][0] == "body"


def test_limits_are_inclusive(api: Api) -> None:
    """The edges of every limit are accepted."""
    api.create(layers=[2, 1])
    api.create(layers=[2, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    api.create(layers=[2, 64, 1])
    api.create(learning_rate=100)
    api.create(learning_rate=1e-12)
    api.create(dataset={"name": "gauss", "samples": 5000}, query={"history": 1})
    api.create(dataset={"X": [[0, 0]] * 5000, "Y": [[0]] * 5000})
    api.create(dataset={"X": [[1e6, -1e6]], "Y": [[1e6]]}, output_activation="linear")
    api.create(bias=False, weights=[{"W": [[1e6] * 4, [-1e6] * 4]}, {"W": [[1e6]] * 4}])
    api.create(focus=3)


@pytest.mark.parametrize(("settings", "config", "loc", "limit"), [
    ({"max_layers": 3}, {"layers": [2, 3, 3, 1]}, ["body", "layers"], "2 to 3"),
    ({"max_neurons": 8}, {"layers": [2, 9, 1]}, ["body", "layers", 1], "1 to 8"),
    ({"max_samples": 10}, {"dataset": {"name": "circle", "samples": 11}},
     ["body", "dataset", "samples"], "at most 10"),
    ({"max_learning_rate": 1.0}, {"learning_rate": 1.5}, ["body", "learning_rate"], "1]"),
    ({"max_abs_value": 10.0}, {"dataset": {"X": [[11, 0]], "Y": [[0]]}},
     ["body", "dataset", "X", 0, 0], "10"),
])
def test_limits_follow_the_settings(make_client: Callable[..., TestClient],
                                    settings: dict[str, Any], config: dict[str, Any],
                                    loc: list[Any], limit: str) -> None:
    api = Api(make_client(**settings))
    assert_422(api.create(expect=422, **config), loc, limit)


def test_max_epochs_follows_the_settings(make_client: Callable[..., TestClient]) -> None:
    api = Api(make_client(max_epochs=50))
    sid = api.create(preset="seed-xor")["id"]
    assert api.train(sid, 50)["ran"] == 50
    assert_422(api.train(sid, 51, expect=422), ["body", "epochs"], "1 to 50")


# --- 413 --------------------------------------------------------------------------------------
def big_body(size: int) -> bytes:
    """A valid-looking JSON config of ``size`` bytes (inline data padded with spaces)."""
    head = b'{"dataset": {"X": [[0, 0]], "Y": [[0]]}'
    return head + b" " * (size - len(head) - 1) + b"}"


def test_413_for_a_body_over_1_mib(api: Api) -> None:
    limit = 1 << 20
    r = api.client.post(SESSIONS, content=big_body(limit + 1),
                        headers={"content-type": "application/json"})
    assert r.status_code == 413
    body = r.json()
    assert "1048576" in body["detail"] and "max_body_bytes" in body["detail"]
    # Exactly at the limit is fine.
    r = api.client.post(SESSIONS, content=big_body(limit),
                        headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text[:300]
    # Every endpoint with a body.
    sid = r.json()["id"]
    for method, path in [("PATCH", f"{SESSIONS}/{sid}"), ("PUT", f"{SESSIONS}/{sid}/weights"),
                         ("POST", f"{SESSIONS}/{sid}/reset"), ("POST", f"{SESSIONS}/import"),
                         ("POST", f"{SESSIONS}/{sid}/train")]:
        # An import takes a long session's export: its own limit, max_import_bytes (16 MiB).
        over = (16 << 20 if path.endswith("/import") else limit) + 100
        r = api.client.request(method, path, content=big_body(over),
                               headers={"content-type": "application/json"})
        assert r.status_code == 413, (method, path, r.status_code)
        setting = "max_import_bytes" if path.endswith("/import") else "max_body_bytes"
        assert setting in r.json()["detail"], (method, path)


def test_413_for_a_streamed_body_without_content_length(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        data = big_body((1 << 20) + 5000)
        for i in range(0, len(data), 64 * 1024):
            yield data[i:i + 64 * 1024]

    r = api.client.post(SESSIONS, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_413_follows_the_setting(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=1000)
    r = client.post(SESSIONS, content=big_body(1001), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "1000" in r.json()["detail"]
    r = client.post(SESSIONS, content=big_body(1000), headers={"content-type": "application/json"})
    assert r.status_code == 201


def test_the_http_layer_puts_the_location_before_the_error_path(
    api: Api, make_client: Callable[..., TestClient]
) -> None:
    """The domain error names the field only; the 422 says where it was: "body" for a
    config, "query" for gradcheck's parameters and for samples/history."""
    from app.config import Settings
    from app.sessions import service
    from app.sessions.config import ConfigError, SessionConfig, normalize
    from app.sessions.model import Session

    bad = {"layers": [2, 4, 1], "dataset": {"X": [[0.0, 1.0]], "Y": [[0.0], [1.0]]}}
    with pytest.raises(ConfigError) as info:
        normalize(SessionConfig.model_validate(bad), Settings())
    body = api.call("POST", SESSIONS, 422, json=bad)
    assert body["detail"][0]["loc"] == ["body", *info.value.path] == ["body", "dataset", "Y"]
    assert body["detail"][0]["msg"] == info.value.msg

    settings = Settings(gradcheck_max_work=50)
    s = Session.create(normalize(SessionConfig(preset="seed-xor"), settings), settings)
    with pytest.raises(ConfigError) as info:
        service.gradcheck(s, 1e-6, settings)
    limited = Api(make_client(gradcheck_max_work=50))
    sid = limited.create(preset="seed-xor")["id"]
    body = limited.call("GET", f"{SESSIONS}/{sid}/gradcheck", 422)
    assert body["detail"] == [{"loc": ["query", *info.value.path], "msg": info.value.msg,
                               "type": "value_error"}]
    assert_422(api.get(api.create()["id"], expect=422, samples="0,99"), ["query", "samples"])
