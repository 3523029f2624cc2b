"""The catalogues (presets, data sets), /healthz and the API docs of API.md §4."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from tests.api.helpers import (
    SEED_XOR,
    XOR_X,
    Api,
    arr,
)
from tests.conftest import API


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
