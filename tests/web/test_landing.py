"""The landing page, the custom-network form and /new."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.helpers import API, HX, new_page, state, text

FORM = {"hidden": ["3", "2"], "hidden_activation": "tanh", "output_activation": "sigmoid",
        "loss": "binary_cross_entropy", "reduction": "mean", "learning_rate": "0.25",
        "bias": "on", "train_bias": "on", "init_scheme": "uniform", "init_seed": "7",
        "init_low": "-0.5", "init_high": "0.5", "init_std": "1", "dataset": "spiral",
        "samples": "120", "noise": "0.2", "test_ratio": "0.25", "data_seed": "3",
        "batch_size": "8", "reg_kind": "l2", "reg_rate": "0.001", "action": "start"}


def test_landing_lists_presets_with_the_lesson_first(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    names = re.findall(r'href="/new\?preset=([\w-]+)"', r.text)
    assert names[0] == "seed-xor"
    assert {"seed-xor", "spiral", "circle", "worked-example"} <= set(names)
    assert '<form method="post" action="/"' in r.text


def test_new_creates_and_redirects(client: TestClient) -> None:
    path = new_page(client, "xor-bias")
    assert re.fullmatch(r"/s/[\w-]{16,}", path)
    s = state(client, path)
    assert s["config"]["preset"] == "xor-bias" and s["config"]["layers"] == [2, 3, 1]


def test_new_with_unknown_preset_is_a_422_page(client: TestClient) -> None:
    r = client.get("/new?preset=nope")
    assert r.status_code == 422
    assert "Network: this value is not allowed." in text(r.text) and "<html" in r.text


def test_custom_form_creates_the_configured_network(client: TestClient) -> None:
    r = client.post("/", data=FORM, follow_redirects=False)
    assert r.status_code == 303, r.text
    c = state(client, r.headers["location"])["config"]
    assert c["layers"] == [2, 3, 2, 1]
    assert c["hidden_activation"] == "tanh" and c["loss"] == "binary_cross_entropy"
    assert c["learning_rate"] == 0.25 and c["reduction"] == "mean"
    assert c["bias"] and c["train_bias"] and c["batch_size"] == 8
    assert c["init"]["scheme"] == "uniform" and c["init"]["low"] == -0.5
    assert c["init"]["seed"] == 7
    assert c["dataset"] == {"name": "spiral", "samples": 120, "noise": 0.2,
                            "test_ratio": 0.25, "seed": 3}
    assert c["regularization"] == {"kind": "l2", "rate": 0.001}


def test_softmax_output_gets_two_units(client: TestClient) -> None:
    form = {**FORM, "output_activation": "softmax", "loss": "cross_entropy", "dataset": "gauss"}
    r = client.post("/", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert state(client, r.headers["location"])["config"]["layers"][-1] == 2


def test_plus_minus_and_add_remove_layers(client: TestClient) -> None:
    r = client.post("/", data={**FORM, "action": "inc:0"})
    assert r.status_code == 200
    assert re.findall(r'name="hidden" value="(\d+)"', r.text) == ["4", "2"]
    r = client.post("/", data={**FORM, "action": "dec:1"}, headers=HX)
    assert re.findall(r'name="hidden" value="(\d+)"', r.text) == ["3", "1"]
    assert "<html" not in r.text and r.text.lstrip().startswith('<section id="custom"')
    r = client.post("/", data={**FORM, "action": "add"})
    assert re.findall(r'name="hidden" value="(\d+)"', r.text) == ["3", "2", "2"]
    r = client.post("/", data={**FORM, "action": "remove"})
    assert re.findall(r'name="hidden" value="(\d+)"', r.text) == ["3"]
    # the form keeps every other field
    assert 'name="learning_rate" value="0.25"' in r.text


def test_config_errors_rerender_the_form_with_422(client: TestClient) -> None:
    r = client.post("/", data={**FORM, "loss": "cross_entropy"})
    assert r.status_code == 422
    assert "Cross-entropy needs the softmax output activation." in text(r.text)
    assert 'name="learning_rate" value="0.25"' in r.text  # the user's values are kept
    r = client.post("/", data={**FORM, "learning_rate": "abc"})
    assert r.status_code == 422 and "Learning rate η is not a number." in text(r.text)
    r = client.post("/", data={**FORM, "learning_rate": "0"})
    assert r.status_code == 422 and "Learning rate η must be greater than 0" in text(r.text)
    r = client.post("/", data={**FORM, "hidden": ["64"] * 9})
    assert r.status_code == 422 and "A network has 2 to" in text(r.text)


def test_output_is_escaped(client: TestClient) -> None:
    r = client.post("/", data={**FORM, "dataset": "<script>alert(1)</script>"})
    assert r.status_code == 422
    assert "<script>alert" not in r.text
    assert "alert(1)" not in r.text  # the message names the field, never repeats its text
    assert "Dataset: this value is not allowed." in text(r.text)


def test_json_api_is_untouched_by_the_pages(client: TestClient) -> None:
    r = client.get(f"{API}/presets")
    assert r.status_code == 200 and r.json()[0]["name"] == "seed-xor"
