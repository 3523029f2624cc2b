"""Each history point's ``mse``: the lesson's printed number, mean((ŷ − y)²), beside the
objective ``loss`` (½Σ per batch). Checked against the lesson's own loop (bit for bit: the
seed-xor preset trains on NumPy by default, whatever the server's kernel setting), against an
independent forward pass, and null wherever loss does not convert exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.api.test_lesson import lesson_script
from tests.conftest import API, new_session

S = f"{API}/sessions"


def history(client: Any, sid: str) -> list[dict[str, Any]]:
    r = client.get(f"{S}/{sid}", params={"history": "all"})
    assert r.status_code == 200
    return list(r.json()["history"])


@pytest.mark.parametrize("kernel", ["auto", "numpy"])
def test_the_lesson_preset_prints_the_lessons_numbers(make_client: Any, kernel: str) -> None:
    client = make_client(kernel=kernel, train_time_budget=60)
    created = new_session(client, preset="seed-xor")
    assert created["config"]["kernel"] == "numpy"  # by default, on any server
    sid = created["id"]
    r = client.post(f"{S}/{sid}/train", json={"epochs": 10_000})
    assert r.status_code == 200 and r.json()["ran"] == 10_000
    points = history(client, sid)
    lesson = lesson_script()
    assert [p["mse"] for p in points] == lesson["every"]  # bit for bit, all 10,000
    assert {e: points[e]["mse"] for e in range(0, 10_000, 1000)} == lesson["printed"]
    assert points[0]["mse"] == pytest.approx(0.3180669563755088, rel=1e-12)
    assert all(p["mse"] == p["loss"] / 2 for p in points)  # ½Σ over 4 × 1 outputs


def test_mean_reduction_mse_is_the_mean_squared_error_of_the_epochs_outputs(
        make_client: Any) -> None:
    client = make_client()
    created = new_session(client, layers=[2, 3, 2], reduction="mean", output_activation="sigmoid",
                          dataset={"name": "inline", "X": [[0.1, 0.2], [0.5, -0.3], [1, 1]],
                                   "Y": [[0, 1], [1, 0], [0.5, 0.5]]})
    sid = created["id"]
    layers = created["layers"]
    assert client.post(f"{S}/{sid}/train", json={"epochs": 1}).status_code == 200
    # An independent forward pass at the initial weights (the epoch's loss is taken there).
    a = np.array([[0.1, 0.2], [0.5, -0.3], [1, 1]])
    for layer in layers:
        a = 1 / (1 + np.exp(-(a @ np.array(layer["W"]) + np.array(layer["b"]))))
    want = float(np.mean((a - np.array([[0, 1], [1, 0], [0.5, 0.5]])) ** 2))
    (point,) = history(client, sid)
    assert point["mse"] == pytest.approx(want, rel=1e-13)
    assert point["mse"] == point["loss"] * 2 / 2  # K = 2 outputs


def test_mse_is_null_where_loss_does_not_convert(make_client: Any) -> None:
    client = make_client()
    cases: list[dict[str, Any]] = [
        {"preset": "circle"},  # binary cross-entropy
        {"preset": "seed-xor", "regularization": {"kind": "l2", "rate": 0.01}},  # a penalty
        {"preset": "seed-xor", "batch_size": 3},  # batches of 3 and 1
    ]
    for config in cases:
        sid = new_session(client, **config)["id"]
        assert client.post(f"{S}/{sid}/train", json={"epochs": 2}).status_code == 200
        points = history(client, sid)
        assert len(points) == 2 and all(p["mse"] is None for p in points), config


def test_mse_starts_again_after_the_batch_size_changes(make_client: Any) -> None:
    client = make_client()
    sid = new_session(client, preset="seed-xor")["id"]
    assert client.post(f"{S}/{sid}/train", json={"epochs": 3}).status_code == 200
    assert client.patch(f"{S}/{sid}", json={"batch_size": 2}).status_code == 200
    assert client.post(f"{S}/{sid}/train", json={"epochs": 2}).status_code == 200
    points = history(client, sid)
    # The first three losses were over batches of 4: under batches of 2 they would convert
    # with another divisor, so they carry none; the new ones are 2L / (2 samples · 1 output).
    assert [p["mse"] is None for p in points] == [True, True, True, False, False]
    assert all(p["mse"] == p["loss"] for p in points[3:])
    # An export and import keep where the mse starts.
    doc = client.get(f"{S}/{sid}/export").json()
    again = client.post(f"{S}/import", json=doc).json()["id"]
    assert history(client, again) == points


def test_mse_of_a_loss_near_the_float_max_is_null_not_infinity(make_client: Any) -> None:
    client = make_client()
    sid = new_session(client, preset="seed-xor")["id"]
    doc = client.get(f"{S}/{sid}/export").json()
    doc["epoch"] = doc["iteration"] = 2
    doc["history"] = [{"epoch": 0, "loss": 1.7e308, "test_loss": None},
                      {"epoch": 1, "loss": 0.5, "test_loss": None}]
    again = client.post(f"{S}/import", json=doc).json()["id"]
    assert [p["mse"] for p in history(client, again)] == [None, 0.25]  # 3.4e308 is not finite
