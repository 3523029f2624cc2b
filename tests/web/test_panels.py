"""Honest panels: whole-split accuracy against a reference, a one-point loss curve drawn as a
point, both axes labelled, and a legend that matches the task."""

from __future__ import annotations

import re

import numpy as np
from fastapi.testclient import TestClient

from app.sessions.model import build_data
from app.sessions.normalized import NormalizedConfig
from tests.api.helpers import arr
from tests.web.helpers import new_page, op, section, state, text


def test_accuracy_over_the_whole_train_and_test_split(client: TestClient) -> None:
    path = new_page(client, "circle")
    op(client, path, "train", epochs="5")
    s = state(client, path)
    data, _task = build_data(NormalizedConfig.from_dict(s["config"]))
    Ws = [arr(layer["W"]) for layer in s["layers"]]
    bs = [arr(layer["b"]) for layer in s["layers"]]

    def acc(X: np.ndarray, Y: np.ndarray) -> str:
        h = np.tanh(X @ Ws[0] + bs[0])
        y = 1 / (1 + np.exp(-(h @ Ws[1] + bs[1])))
        return f"{np.mean((y > 0.5) == (Y > 0.5)) * 100:.1f}\u00a0%"

    assert data.X_test is not None and data.Y_test is not None
    page = client.get(path).text
    m = re.search(r'<p class="meta split" id="split-metrics">(.*?)</p>', page, re.S)
    assert m
    line = text(m.group(1))
    assert f"training {acc(data.X, data.Y)}" in line
    assert f"test {acc(data.X_test, data.Y_test)}" in line
    plot = section(page, "data")
    assert ">x₁</text>" in plot and ">x₂</text>" in plot and "squares: class 0" in plot


def test_regression_has_no_class_legend_and_one_point_is_a_point(client: TestClient) -> None:
    path = new_page(client, "plane-regression")
    page = op(client, path, "epoch")
    data = section(page, "data")
    assert "Regression." in data and "class 0" not in data and "MSE over the whole split" in data
    loss = section(page, "loss")
    assert '<circle class="train-dot"' in loss
    page = op(client, path, "epoch")
    assert "train-dot" not in section(page, "loss")


def test_gradient_norm_chart_and_the_vanishing_gradient_presets(client: TestClient) -> None:
    norms = {}
    for preset in ("deep-sigmoid", "deep-relu"):
        path = new_page(client, preset)
        assert 'id="gradnorms"' not in client.get(path).text  # nothing recorded yet
        page = op(client, path, "train", epochs="3")
        chart = re.search(r'<figure class="gradnorms" id="gradnorms">.*?</figure>', page, re.S)
        assert chart and 'data-layers="6"' in chart.group(0) and "log scale" in chart.group(0)
        assert chart.group(0).count('class="series-label"') == 6
        norms[preset] = state(client, path)["history"][-1]["grad_norm"]
    # Sigmoid: the first layer's gradient is orders of magnitude below the last one's.
    s, r = norms["deep-sigmoid"], norms["deep-relu"]
    assert s[0] / s[-1] < 1e-2 and r[0] / r[-1] > 1e-1
