"""The normalized config: frozen and typed, with a wire form (to_dict/from_dict) that round-trips
for every preset and every kind of data, in the key order the replies have always had."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from app.config import Settings
from app.sessions.config import PRESETS, ConfigError, SessionConfig, normalize
from app.sessions.normalized import (
    GeneratedData,
    InlineData,
    NormalizedConfig,
    TruthTable,
)

SETTINGS = Settings()


def config(**fields: Any) -> NormalizedConfig:
    return normalize(SessionConfig.model_validate(fields), SETTINGS)


def test_it_is_frozen_down_to_its_parts() -> None:
    c = config(preset="worked-example")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.learning_rate = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.init.seed = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.regularization.rate = 0.5  # type: ignore[misc]
    assert c.weights is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.weights[0].b = None  # type: ignore[misc]
    # Sequences are tuples: nothing inside can change either.
    assert isinstance(c.layers, tuple) and isinstance(c.features, tuple)
    assert isinstance(c.dataset, InlineData) and isinstance(c.dataset.X[0], tuple)
    assert not hasattr(c, "__dict__")  # slots


def test_typed_parts() -> None:
    c = config(preset="deep-relu")
    assert c.layers == (2, 6, 6, 6, 6, 6, 1)
    assert c.activations == ("relu",) * 5 + ("sigmoid",)
    assert isinstance(c.dataset, GeneratedData)
    assert (c.dataset.name, c.dataset.samples, c.dataset.test_ratio) == ("circle", 200, 0.5)
    assert isinstance(config(preset="seed-xor").dataset, TruthTable)
    assert config(preset="seed-xor").focus == 2  # resolved: (1, 0) of the truth table


WIRE_KEYS = ["layers", "hidden_activation", "output_activation", "loss", "reduction",
             "learning_rate", "bias", "train_bias", "init", "weights", "dataset", "batch_size",
             "regularization", "focus", "features", "optimizer", "preset", "kernel"]


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_round_trips(name: str) -> None:
    c = config(preset=name)
    d = c.to_dict()
    assert list(d) == WIRE_KEYS and d["preset"] == name
    assert list(d["init"]) == ["low", "high", "std", "seed", "bias", "scheme"]
    assert list(d["regularization"]) == ["kind", "rate"]
    assert NormalizedConfig.from_dict(d) == c
    wire = json.dumps(d)
    back = NormalizedConfig.from_dict(json.loads(wire))
    assert back == c and json.dumps(back.to_dict()) == wire


CASES: list[dict[str, Any]] = [
    {"dataset": {"X": [[1, 2], [3, 4]], "Y": [[0], [1]]}},
    {"dataset": {"X": [[1, 2], [3, 4]], "Y": [[0], [1]], "X_test": [[1, 1]], "Y_test": [[1]],
                 "extra": [[1, 2, 1]]}},
    {"dataset": {"name": "spiral", "samples": 50, "extra": [[0.1, 0.2, 1.0]]}},
    {"dataset": {"name": "xor", "extra": []}},
    # Without biases, b may be left out or given as null: the wire form keeps which.
    {"layers": [2, 2, 1], "bias": False,
     "weights": [{"W": [[1, 2], [3, 4]]}, {"W": [[1], [2]], "b": None}]},
    {"features": ["x1", "x2", "x1_sq"], "layers": [3, 4, 1], "dataset": {"name": "gauss"},
     "regularization": {"kind": "l1", "rate": 0.01}, "batch_size": 3},
]


@pytest.mark.parametrize("fields", CASES)
def test_every_kind_of_data_and_weights_round_trips(fields: dict[str, Any]) -> None:
    c = config(**fields)
    wire = json.dumps(c.to_dict())
    back = NormalizedConfig.from_dict(json.loads(wire))
    assert back == c and json.dumps(back.to_dict()) == wire


def test_weights_keep_whether_b_was_listed() -> None:
    c = config(**CASES[4])
    assert c.to_dict()["weights"] == [{"W": [[1.0, 2.0], [3.0, 4.0]]},
                                      {"W": [[1.0], [2.0]], "b": None}]


@pytest.mark.parametrize(("fields", "path"), [
    ({"layers": [2, 0, 1]}, ("layers", 1)),
    ({"learning_rate": 1e9}, ("learning_rate",)),
    ({"dataset": {"X": [[1.0, 2.0]], "Y": [[1.0], [0.0]]}}, ("dataset", "Y")),
    ({"layers": [2, 2, 1], "weights": [{"W": [[1.0, 2.0], [3.0, 4.0]], "b": [0.0]},
                                       {"W": [[1.0], [2.0]], "b": [0.0]}]},
     ("weights", 0, "b")),
])
def test_a_config_error_carries_a_field_path_and_no_http_location(
    fields: dict[str, Any], path: tuple[str | int, ...]
) -> None:
    with pytest.raises(ConfigError) as info:
        config(**fields)
    assert info.value.path == path
    assert not hasattr(info.value, "where") and not hasattr(info.value, "loc")
