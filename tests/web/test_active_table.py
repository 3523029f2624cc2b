"""The weights table of the layer just computed (app/web/drawing/active.py), from hand-made layers:
which way round it is, what each cell holds, and when it is left out."""

from __future__ import annotations

from typing import Any

from app.web.drawing.active import layer_table


def lay(n_prev: int, n: int, grads: bool) -> dict[str, Any]:
    W = [[0.1 * (i + 1) + 0.01 * (j + 1) for j in range(n)] for i in range(n_prev)]
    return {"W": W, "b": [-0.5] * n,
            "grad_W": [[-w / 10 for w in row] for row in W] if grads else None,
            "grad_b": [0.25] * n if grads else None}


def test_two_inputs_a_row_per_neuron() -> None:
    t = layer_table(lay(2, 3, False), 1, "forward", ["x₁", "x₂"], 2, "Σ∂")
    assert t is not None and not t.split
    assert t.heads == ["x₁", "x₂", "b"]
    assert [name for name, _cells in t.rows] == ["h₁⁽¹⁾", "h₂⁽¹⁾", "h₃⁽¹⁾"]
    # Row j: w from x₁ (0.1 + 0.01 (j+1)), from x₂ (0.2 + ...), then the bias; no gradients yet.
    assert t.rows[1][1][0] == ("w-1-0-1", "+0.1200", "g-1-0-1", "")
    assert t.rows[1][1][1] == ("w-1-1-1", "+0.2200", "g-1-1-1", "")
    assert t.rows[1][1][2] == ("b-1-1", "\u22120.5000", "gb-1-1", "")


def test_one_output_a_row_per_input_w_beside_its_gradient() -> None:
    t = layer_table(lay(8, 1, True), 3, "backward", [], 3, "Σ∂")
    assert t is not None and t.split
    assert t.heads == ["ŷ₁"]
    assert [name for name, _c in t.rows] == [f"h{s}⁽²⁾" for s in "₁₂₃₄₅₆₇₈"] + ["b"]
    assert t.rows[7][1] == [("w-3-7-0", "+0.8100", "g-3-7-0", "\u22120.08100")]
    assert t.rows[8][1] == [("b-3-0", "\u22120.5000", "gb-3-0", "+0.2500")]


def test_a_square_layer_has_no_table() -> None:
    assert layer_table(lay(8, 8, True), 2, "backward", [], 3, "Σ∂") is None
    assert layer_table(lay(6, 6, False), 2, "forward", [], 6, "Σ∂") is None
