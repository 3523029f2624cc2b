"""The inspector's MathML: formulas true for the configured loss and activation, with the
numbers of the session's state."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.web.infra.fmt import num
from app.web.inspector.mathml import split_top
from tests.web.helpers import API, HX, new_page, op, section, state, text


def inspect(client: TestClient, path: str, sel: str) -> str:
    r = client.get(f"{path}?sel={sel}", headers=HX)
    assert r.status_code == 200
    return text(section(r.text, "inspector"))


def through(client: TestClient, path: str, phase: str = "update") -> dict[str, Any]:
    while state(client, path)["cursor"]["next"] != phase:
        op(client, path, "step")
    return state(client, path)


def test_edge_gradient_and_update_with_numbers(client: TestClient) -> None:
    path = new_page(client)
    s = through(client, path)
    insp = inspect(client, path, "w-1-0-1")
    assert insp.count("<math") >= 3
    assert "Weight w1,2 (layer 1)" in insp
    w, g = s["layers"][0]["W"][0][1], s["layers"][0]["grad_W"][0][1]
    assert num(w, 6) in insp and num(g, 6) in insp
    assert num(w - 0.1 * g, 6) in insp
    # Σ_n a_i δ_j over the four samples: each a·δ term is written out
    for n in range(4):
        a = s["batch"]["X"][n][0]
        d = s["layers"][0]["delta"][n][1]
        assert num(d, 6) in insp or a == 0


def test_output_node_squared_error_sigmoid(client: TestClient) -> None:
    path = new_page(client)
    s = through(client, path)
    insp = inspect(client, path, "n-2-0")
    L = s["layers"][1]
    f = s["config"]["focus"]  # the diagram and inspector follow the focus sample
    assert f == 2 and s["batch"]["X"][f] == [1, 0]  # XOR's default: (1, 0), not (0, 0)
    a, d = L["a"][f][0], L["delta"][f][0]
    for v in (L["z"][f][0], a, a * (1 - a), d):
        assert num(v, 6) in insp
    assert "Output error δ (chain rule)" in insp and "<mi>σ</mi>" in insp


def test_hidden_node_chain_rule(client: TestClient) -> None:
    path = new_page(client)
    s = through(client, path)
    insp = inspect(client, path, "n-1-2")
    L1, L2 = s["layers"]
    assert "Hidden error δ (chain rule)" in insp
    f = s["config"]["focus"]
    for v in (L1["z"][f][2], L1["a"][f][2], L1["delta"][f][2], L2["W"][2][0],
              L2["delta"][f][0]):
        assert num(v, 6) in insp


def test_bce_mean_reduction_and_bias(client: TestClient) -> None:
    path = new_page(client, "circle")
    s = through(client, path)
    insp = inspect(client, path, "n-2-0")
    assert "Sigmoid and cross-entropy together simplify" in insp
    assert "1/N" in insp and "<mn>10</mn>" in insp  # the 1/N of a batch of 10
    assert num(s["layers"][1]["delta"][0][0], 6) in insp
    insp = inspect(client, path, "b-2-0")
    assert num(s["layers"][1]["grad_b"][0], 6) in insp
    assert num(s["layers"][1]["b"][0] - 0.3 * s["layers"][1]["grad_b"][0], 6) in insp


def test_softmax_cross_entropy(client: TestClient) -> None:
    path = new_page(client, "gauss-softmax")
    s = through(client, path)
    insp = inspect(client, path, "n-2-1")
    assert "Softmax and cross-entropy together simplify" in insp
    assert num(s["layers"][1]["delta"][0][1], 6) in insp
    insp0 = inspect(client, path, "n-2-0")
    assert "<msup><mi>e</mi>" in insp0 and num(s["layers"][1]["a"][0][0], 6) in insp0


def test_squared_error_through_softmax(client: TestClient) -> None:
    r = client.post(f"{API}/sessions", json={"preset": "gauss-softmax", "loss": "squared_error"})
    path = "/s/" + r.json()["id"]
    s = through(client, path)
    insp = inspect(client, path, "n-2-0")
    assert "<mi>g</mi>" in insp
    assert num(s["layers"][1]["delta"][0][0], 6) in insp


def test_regularization_term_and_frozen_biases(client: TestClient) -> None:
    r = client.post(f"{API}/sessions", json={"preset": "worked-example",
                                             "regularization": {"kind": "l2", "rate": 0.5}})
    path = "/s/" + r.json()["id"]
    s = through(client, path)
    insp = inspect(client, path, "w-2-0-0")
    assert "<mi>λ</mi>" in insp and num(s["layers"][1]["grad_W"][0][0], 6) in insp
    assert "Biases are frozen" in inspect(client, path, "b-1-0")


def test_loss_and_input_and_hints(client: TestClient) -> None:
    path = new_page(client)
    insp = inspect(client, path, "n-1-0")
    assert "Press Forward" in insp
    insp = inspect(client, path, "w-2-0-0")
    assert "Press Backward" in insp
    s = through(client, path)
    insp = inspect(client, path, "loss")
    assert num(s["loss"], 6) in insp
    for v in s["per_sample_loss"]:
        assert num(v, 6) in insp
    assert num(s["batch"]["X"][0][0], 6) in inspect(client, path, "n-0-0")
    # nonsense selections fall back to the help text
    for bad in ("w-9-0-0", "n-1", "zzz", "b-1-0"):
        assert "Select a neuron" in inspect(client, path, bad)


def test_long_equations_are_split_at_top_level_signs() -> None:
    assert split_top(r"a = \frac{b = c}{d} = \left(x = y\right) = 1", " = ") == [
        "a", r"\frac{b = c}{d}", r"\left(x = y\right)", "1"]
