"""Lessons that travel: a setup link recreates the configuration and initial weights on any
server (≤ 2,000 characters), too-large inline data gets a clear 422, and a lesson file (the
export JSON) opens as a new session."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.sessions.config import PRESETS
from app.sessions.links import MAX_URL
from tests.teaching.helpers import S


def follow_link(client: TestClient, url: str) -> str:
    r = client.get(url, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return r.headers["location"].removeprefix("/s/")


CUSTOM = [
    {"layers": [2, 16, 16, 16, 1], "dataset": {"name": "spiral", "samples": 400, "seed": 7},
     "hidden_activation": "tanh", "learning_rate": 0.03, "batch_size": 16,
     "regularization": {"kind": "l2", "rate": 0.001}},
    {"layers": [2, 3, 2], "output_activation": "softmax", "loss": "cross_entropy",
     "dataset": {"name": "gauss", "test_ratio": 0.2}, "init": {"scheme": "he", "seed": 42}},
    {"layers": [2, 2, 1], "weights": [{"W": [[0.15, 0.2], [0.25, 0.3]], "b": [0.35, 0.35]},
                                      {"W": [[0.4], [0.45]], "b": [0.6]}],
     "dataset": {"X": [[0.05, 0.1]], "Y": [[0.01]]}},
]


@pytest.mark.parametrize("config", [{"preset": p} for p in PRESETS] + CUSTOM,
                         ids=[*PRESETS, "custom-deep", "custom-softmax", "custom-inline"])
def test_a_link_recreates_the_setup_on_another_server(
        make_client: Callable[..., TestClient], config: dict[str, object]) -> None:
    here, there = make_client(), make_client()
    made = here.post(S, json=config)
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    here.post(f"{S}/{sid}/train", json={"epochs": 5})  # training does not change the setup
    url = here.get(f"{S}/{sid}/link").json()["url"]
    assert url.startswith("/new?c=") and len(url) <= MAX_URL
    new = follow_link(there, url)
    a, b = made.json(), there.get(f"{S}/{new}").json()
    assert b["config"] == a["config"]
    assert [l["W"] for l in b["layers"]] == [l["W"] for l in a["layers"]]  # initial weights
    assert [l["b"] for l in b["layers"]] == [l["b"] for l in a["layers"]]
    assert b["batch"] == a["batch"] and b["epoch"] == 0


def test_inline_data_too_large_for_a_link(client: TestClient) -> None:
    rows = [[i / 997, (i * 37 % 1000) / 1000] for i in range(600)]
    sid = client.post(S, json={"layers": [2, 4, 1], "dataset": {
        "X": rows, "Y": [[float(x > y)] for x, y in rows]}}).json()["id"]
    r = client.get(f"{S}/{sid}/link")
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"][-1] == "link" and "2000" in detail["msg"] and "inline" in detail["msg"]
    page = client.get(f"/s/{sid}")
    assert page.status_code == 200 and "too large for a link" in page.text


def test_bad_links_are_a_clear_422(client: TestClient) -> None:
    for code in ("not-base64!!", "AAAA", "eJzLSM3JyQcABiwCFQ"):  # the last: zlib("hello")
        r = client.get("/new", params={"c": code})
        assert r.status_code == 422 and "link" in r.text, code


def test_a_lesson_file_opens_as_a_new_session(client: TestClient) -> None:
    sid = client.post(S, json={"preset": "xor-bias"}).json()["id"]
    client.post(f"{S}/{sid}/train", json={"epochs": 25})
    lesson = client.get(f"{S}/{sid}/export").text
    page = client.get(f"/s/{sid}")
    assert f'href="/api/v1/sessions/{sid}/export" download' in page.text
    r = client.post("/open", data={"lesson": lesson}, follow_redirects=False)
    assert r.status_code == 303
    new = r.headers["location"].removeprefix("/s/")
    a, b = client.get(f"{S}/{sid}").json(), client.get(f"{S}/{new}").json()
    assert new != sid and a["layers"] == b["layers"] and a["history"] == b["history"]
    assert a["epoch"] == b["epoch"] == 25
    bad = client.post("/open", data={"lesson": "{\"format\": 1}"})
    assert bad.status_code == 422 and "format" in bad.text
