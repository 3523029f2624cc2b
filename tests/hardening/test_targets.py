"""Issue 23: targets suit their loss at every door (creation, inline data, added points on
the API and the page, imports), so a loss can never go negative and every export imports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import API

S = f"{API}/sessions"
BCE = {"layers": [2, 2, 1], "output_activation": "sigmoid", "loss": "binary_cross_entropy"}
CE = {"layers": [2, 3, 2], "output_activation": "softmax", "loss": "cross_entropy"}
X4 = [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.fixture
def c(make_client: Any) -> TestClient:
    return make_client()


def refused(r: Any, loc: list[Any], *words: str) -> None:
    assert r.status_code == 422, r.text[:400]
    detail = r.json()["detail"]
    assert any(d["loc"] == loc for d in detail), detail
    for w in words:
        assert w in r.text, (w, r.text)


@pytest.mark.parametrize(("config", "loc", "word"), [
    ({**BCE, "dataset": {"X": X4, "Y": [[5], [-3], [0], [1]]}}, ["dataset", "Y", 0], "[0, 1]"),
    ({**BCE, "dataset": {"X": X4, "Y": [[0], [1], [0], [1.0000001]]}}, ["dataset", "Y", 3],
     "[0, 1]"),
    ({**BCE, "dataset": {"X": X4, "Y": [[0], [1], [0], [1]], "X_test": [[0, 0]],
                         "Y_test": [[-0.5]]}}, ["dataset", "Y_test", 0], "[0, 1]"),
    ({**BCE, "dataset": {"name": "xor", "extra": [[0.5, 0.5, 2]]}},
     ["dataset", "extra", 0, 2], "got 2"),
    ({**CE, "dataset": {"name": "spiral", "extra": [[0, 0, 64]]}},
     ["dataset", "extra", 0, 2], "got 64"),
    ({**CE, "dataset": {"name": "spiral", "extra": [[0, 0, 1], [0, 0, -1]]}},
     ["dataset", "extra", 1, 2], "got -1"),
    ({**CE, "dataset": {"X": X4, "Y": [[1, 0], [0, 1], [2, -1], [0, 1]]}},
     ["dataset", "Y", 2], "≥ 0"),
])
def test_creation_refuses_targets_outside_the_loss(c: TestClient, config: dict[str, Any],
                                                   loc: list[Any], word: str) -> None:
    refused(c.post(S, json=config), ["body", *loc], word)


@pytest.mark.parametrize("config", [
    {**BCE, "dataset": {"X": X4, "Y": [[0.2], [0.9], [0], [1]]}},  # soft targets are fine
    {**CE, "dataset": {"X": X4, "Y": [[0.5, 0.5], [0, 1], [1, 0], [0.3, 0.7]]}},
    {**CE, "dataset": {"name": "spiral", "extra": [[0, 0, 1], [1, 1, 0]]}},
    {"layers": [2, 2, 1], "dataset": {"X": X4, "Y": [[5], [-3], [0], [1]]}},  # squared error
])
def test_valid_targets_train_with_a_loss_never_negative(c: TestClient,
                                                        config: dict[str, Any]) -> None:
    r = c.post(S, json=config)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = c.post(f"{S}/{sid}/train", json={"epochs": 50})
    assert r.status_code == 200
    st = c.get(f"{S}/{sid}", params={"history": "all"}).json()
    losses = [p["loss"] for p in st["history"]]
    assert len(losses) == 50 and st["loss"] >= 0 and all(v >= 0 for v in losses)
    doc = c.get(f"{S}/{sid}/export").json()
    assert c.post(f"{S}/import", json=doc).status_code == 201


def test_added_points_on_the_api_and_the_page(c: TestClient) -> None:
    sid = c.post(S, json={**CE, "dataset": {"name": "spiral"}}).json()["id"]
    before = c.get(f"{S}/{sid}").json()
    refused(c.post(f"{S}/{sid}/points", json={"x1": 0, "x2": 0, "y": 64}), ["body", "y"],
            "got 64")
    r = c.post(f"/s/{sid}/point", data={"x1": "0", "x2": "0", "y": "64"},
               headers={"hx-request": "true"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    after = c.get(f"{S}/{sid}").json()
    assert after["version"] == before["version"] and after["config"] == before["config"]
    assert c.post(f"{S}/{sid}/points", json={"x1": 0, "x2": 0, "y": 1}).status_code == 200
    # a regression set with BCE (soft targets): y outside [0, 1] is refused, inside accepted
    sid = c.post(S, json={**BCE, "dataset": {"X": X4, "Y": [[0.2], [0.9], [0], [1]]}}
                 ).json()["id"]
    refused(c.post(f"{S}/{sid}/points", json={"x1": 0, "x2": 0, "y": 5}), ["body", "y"],
            "[0, 1]")
    assert c.post(f"{S}/{sid}/points", json={"x1": 0, "x2": 0, "y": 0.4}).status_code == 200


def test_an_import_with_forged_targets_is_refused(c: TestClient) -> None:
    sid = c.post(S, json={**CE, "dataset": {"name": "spiral"}}).json()["id"]
    doc = c.get(f"{S}/{sid}/export").json()
    doc["config"]["dataset"]["extra"] = [[0, 0, 64]]
    refused(c.post(f"{S}/import", json=doc), ["body", "config", "dataset", "extra", 0, 2],
            "got 64")
    r = c.post("/open", data={"lesson": json.dumps(doc)})
    assert r.status_code == 422 and "got 64" in r.text
