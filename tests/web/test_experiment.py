"""Changing the experiment from the session page (new weights), adding a point (weights kept),
and errors next to their field in the page's language."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.helpers import HX, new_page, state


def post(client: TestClient, path: str, route: str, data: dict[str, object],
         expect: int = 200, lang: str = "en") -> str:
    r = client.post(f"{path}/{route}?lang={lang}", data=data, headers=HX)
    assert r.status_code == expect, r.text[:500]
    return r.text


def test_plus_minus_layers_activation_features_and_data(client: TestClient) -> None:
    path = new_page(client, "circle")
    before = state(client, path)
    post(client, path, "experiment", {"action": "inc:0"})
    s = state(client, path)
    assert s["config"]["layers"] == [2, 5, 1] and s["epoch"] == 0 and s["id"] == before["id"]
    assert s["config"]["init"] == before["config"]["init"]  # re-initialised from the same seed
    post(client, path, "experiment", {"action": "add"})
    assert state(client, path)["config"]["layers"] == [2, 5, 5, 1]
    post(client, path, "experiment", {"action": "remove"})
    page = post(client, path, "experiment", {
        "action": "apply", "hidden_activation": "relu", "has_features": "1",
        "features": ["x1", "x2", "x1_sq", "x2_sq"], "dataset": "circle", "noise": "0.3",
        "test_ratio": "0.2", "data_seed": "7"})
    s = state(client, path)
    c = s["config"]
    assert c["layers"] == [4, 5, 1] and c["features"] == ["x1", "x2", "x1_sq", "x2_sq"]
    assert c["hidden_activation"] == "relu"
    assert c["dataset"] == {"name": "circle", "samples": 200, "noise": 0.3, "test_ratio": 0.2,
                            "seed": 7}
    assert re.search(r'<text class="ntitle"[^>]*>x₁²</text>', page)
    post(client, path, "experiment", {"action": "apply", "dataset": "xor"})
    assert state(client, path)["config"]["dataset"] == {"name": "xor"}


def test_errors_next_to_their_field_translated(client: TestClient) -> None:
    path = new_page(client, "circle")
    page = post(client, path, "experiment", {"action": "apply", "noise": "2",
                                             "dataset": "circle"}, 422)
    m = re.search(r'<p class="field-error" id="err-noise" role="alert">(.*?)</p>', page)
    assert m and "Noise" in m.group(1) and "1" in m.group(1)
    page = post(client, path, "experiment", {"action": "apply", "has_features": "1",
                                             "dataset": "circle"}, 422, lang="ko")
    m = re.search(r'<p class="field-error" id="err-features" role="alert">(.*?)</p>', page)
    assert m and not re.search(r"[A-Za-z]{3,}", m.group(1)), m.group(1)
    assert state(client, path)["config"]["layers"] == [2, 4, 1]  # unchanged


def test_add_a_point_from_the_page(client: TestClient) -> None:
    path = new_page(client)
    before = state(client, path)
    page = post(client, path, "point", {"x1": "0.5", "x2": "0.25", "y": "1"})
    s = state(client, path)
    assert s["batch"]["size"] == 5 and s["config"]["dataset"]["extra"] == [[0.5, 0.25, 1.0]]
    assert s["layers"][0]["W"] == before["layers"][0]["W"]
    assert "5 training samples" in page
    page = post(client, path, "point", {"x1": "0.5", "x2": "zero", "y": "1"}, 422)
    assert "x₂" in page and "is not a number" in page
