"""Published worked examples of backpropagation, reproduced by setting their weights and data
through the API. The expected numbers are the published ones, copied from the sources.

Mapping: our W[l] is n_{l-1} × n_l, W[l][i][j] = the weight from unit i of layer l−1 to unit j
of layer l; b[l][j] is unit j's bias.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.helpers import Api, module_api


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    yield from module_api()


# --- Matt Mazur, "A Step by Step Backpropagation Example" (2015) ------------------------------
# https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/
# 2-2-2 sigmoid network, inputs i1 = 0.05, i2 = 0.10, targets 0.01, 0.99, η = 0.5,
# E_total = Σ ½(target − out)². Weights: w1 = .15 (i1→h1), w2 = .20 (i2→h1), w3 = .25 (i1→h2),
# w4 = .30 (i2→h2), b1 = .35; w5 = .40 (h1→o1), w6 = .45 (h2→o1), w7 = .50 (h1→o2),
# w8 = .55 (h2→o2), b2 = .60. The biases are not updated in his walk-through.
MAZUR_CONFIG: dict[str, Any] = {
    "layers": [2, 2, 2],
    "hidden_activation": "sigmoid",
    "output_activation": "sigmoid",
    "loss": "squared_error",
    "reduction": "sum",
    "learning_rate": 0.5,
    "bias": True,
    "train_bias": False,
    "weights": [
        # W1[i][j]: input i → hidden j.  Row i1: (w1, w3); row i2: (w2, w4).
        {"W": [[0.15, 0.25], [0.20, 0.30]], "b": [0.35, 0.35]},
        # W2[i][j]: hidden i → output j. Row h1: (w5, w7); row h2: (w6, w8).
        {"W": [[0.40, 0.50], [0.45, 0.55]], "b": [0.60, 0.60]},
    ],
    "dataset": {"X": [[0.05, 0.10]], "Y": [[0.01, 0.99]]},
}


def mazur_weights(state: dict[str, Any]) -> dict[str, float]:
    W1, W2 = state["layers"][0]["W"], state["layers"][1]["W"]
    return {"w1": W1[0][0], "w2": W1[1][0], "w3": W1[0][1], "w4": W1[1][1],
            "w5": W2[0][0], "w6": W2[1][0], "w7": W2[0][1], "w8": W2[1][1]}


@pytest.mark.parametrize("how", ["preset", "explicit"])
def test_mazur_one_update(api: Api, how: str) -> None:
    s = api.create(preset="worked-example") if how == "preset" else api.create(**MAZUR_CONFIG)
    sid = s["id"]
    assert mazur_weights(s) == {"w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30,
                                "w5": 0.40, "w6": 0.45, "w7": 0.50, "w8": 0.55}

    s = api.op(sid, "forward")
    h = s["layers"][0]
    assert h["z"][0][0] == pytest.approx(0.3775, abs=1e-12)  # net_h1
    assert h["a"][0] == pytest.approx([0.593269992, 0.596884378], abs=1e-9)  # out_h1, out_h2
    s = api.op(sid, "forward")
    o = s["layers"][1]
    assert o["z"][0][0] == pytest.approx(1.105905967, abs=1e-9)  # net_o1
    assert s["output"][0] == pytest.approx([0.75136507, 0.772928465], abs=1e-8)  # out_o1, o2
    assert s["per_sample_loss"][0] == pytest.approx(0.274811083 + 0.023560026, abs=1e-9)
    assert s["loss"] == pytest.approx(0.298371109, abs=1e-9)  # E_total

    s = api.op(sid, "backward")
    # δ_o1 = ∂E/∂out_o1 · ∂out_o1/∂net_o1 = 0.74136507 · 0.186815602 = 0.138498562
    assert s["layers"][1]["delta"][0][0] == pytest.approx(0.138498562, abs=1e-9)
    assert s["layers"][1]["grad_W"][0][0] == pytest.approx(0.082167041, abs=1e-9)  # ∂E/∂w5
    s = api.op(sid, "backward")
    assert s["layers"][0]["grad_W"][0][0] == pytest.approx(0.000438568, abs=1e-9)  # ∂E/∂w1

    s = api.op(sid, "update")
    w = mazur_weights(s)
    published = {"w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
                 "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121}
    for name, value in published.items():
        assert w[name] == pytest.approx(value, abs=1e-8), name
    assert [layer["b"] for layer in s["layers"]] == [[0.35, 0.35], [0.60, 0.60]]

    # "After this first round of backpropagation, the total error is now down to 0.291027924."
    # (His figure was computed from rounded weights; the exact value is 0.2910277737.)
    s = api.op(sid, "forward", {"through": "all"})
    assert s["loss"] == pytest.approx(0.291027924, abs=2e-7)


def test_mazur_ten_thousand_updates(api: Api) -> None:
    # "after repeating this process 10,000 times, for example, the error plummets to
    # 0.0000351085. At this point, when we feed forward 0.05 and 0.1, the two outputs neurons
    # generate 0.015912196 (vs 0.01 target) and 0.984065734 (vs 0.99 target)."
    # The blog's figures carry the rounding of its hand computation: agreement to ~2e-6.
    sid = api.create(preset="worked-example")["id"]
    s = api.train_to(sid, 10_000, history=1)
    s = api.op(sid, "forward", {"through": "all"})
    assert s["loss"] == pytest.approx(0.0000351085, rel=2e-3)
    assert s["output"][0] == pytest.approx([0.015912196, 0.984065734], abs=3e-6)


# --- Han, Kamber & Pei, "Data Mining: Concepts and Techniques", 3rd ed. (2012), §9.2.3, -----
# Example 9.1 "Sample calculations for learning by the backpropagation algorithm",
# Figure 9.5 and Tables 9.1–9.3. A 3-2-1 sigmoid network; units 1–3 inputs, 4–5 hidden, 6
# output. X = (1, 0, 1), class label 1, learning rate l = 0.9. Net input I_j = Σ_i w_ij O_i + θ_j.
# Err_j = O_j(1 − O_j)(T_j − O_j) at the output, the update w_ij += l·Err_j·O_i and
# θ_j += l·Err_j, i.e. gradient descent on ½(T − O)²: our delta is −Err.
HAN_CONFIG: dict[str, Any] = {
    "layers": [3, 2, 1],
    "learning_rate": 0.9,
    "bias": True,
    "train_bias": True,
    "weights": [
        # rows: inputs 1, 2, 3; columns: units 4, 5.
        {"W": [[0.2, -0.3], [0.4, 0.1], [-0.5, 0.2]], "b": [-0.4, 0.2]},  # w14 w15 / θ4 θ5
        {"W": [[-0.3], [-0.2]], "b": [0.1]},  # w46, w56 / θ6
    ],
    "dataset": {"X": [[1.0, 0.0, 1.0]], "Y": [[1.0]]},
}


def test_han_kamber_example_9_1(api: Api) -> None:
    sid = api.create(**HAN_CONFIG)["id"]
    s = api.op(sid, "forward", {"through": "all"})
    # Table 9.1: net input and output. Units 4, 5, 6: I = −0.7, 0.1, −0.105; O = 0.332,
    # 0.525, 0.474.
    assert s["layers"][0]["z"][0] == pytest.approx([-0.7, 0.1], abs=1e-12)
    assert s["layers"][0]["a"][0] == pytest.approx([0.332, 0.525], abs=5e-4)
    assert s["layers"][1]["z"][0][0] == pytest.approx(-0.105, abs=5e-4)
    assert s["output"][0][0] == pytest.approx(0.474, abs=5e-4)
    s = api.op(sid, "backward", {"through": "all"})
    # Table 9.2: Err6 = 0.1311, Err5 = −0.0065, Err4 = −0.0087. The book computes them from
    # the 3-decimal outputs of Table 9.1 (0.474 · 0.526 · 0.526 = 0.13114): agreement to 1e-4.
    assert -s["layers"][1]["delta"][0][0] == pytest.approx(0.1311, abs=1e-4)
    assert [-d for d in s["layers"][0]["delta"][0]] == pytest.approx([-0.0087, -0.0065],
                                                                     abs=1e-4)
    s = api.op(sid, "update")
    W1, b1 = s["layers"][0]["W"], s["layers"][0]["b"]
    W2, b2 = s["layers"][1]["W"], s["layers"][1]["b"]
    # Table 9.3: new weights and biases.
    published = {
        "w46": (W2[0][0], -0.261), "w56": (W2[1][0], -0.138),
        "w14": (W1[0][0], 0.192), "w15": (W1[0][1], -0.306),
        "w24": (W1[1][0], 0.4), "w25": (W1[1][1], 0.1),
        "w34": (W1[2][0], -0.508), "w35": (W1[2][1], 0.194),
        "θ6": (b2[0], 0.218), "θ5": (b1[1], 0.194), "θ4": (b1[0], -0.408),
    }
    for name, (got, value) in published.items():
        assert got == pytest.approx(value, abs=5e-4), name
    # Input 2 is 0: its weights cannot move at all.
    assert (W1[1][0], W1[1][1]) == (0.4, 0.1)
