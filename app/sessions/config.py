"""Normalisation: a request's config (app/sessions/config_input.py) over a preset or the base
(app/sessions/presets.py) into a complete NormalizedConfig, every field checked against the
limits in Settings (ConfigError naming the field and the limit otherwise).

The input models and presets are imported from here too (``from app.sessions.config import
SessionConfig, PRESETS``): together they are the config's contract."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import TypeVar, cast

from app.config import Settings
from app.jsontypes import JSON, JSONObject
from app.nn import datasets, kernel_slot
from app.nn import features as feats
from app.nn.losses import LOSSES
from app.nn.optimizers import DEFAULTS as OPTIMIZER_DEFAULTS
from app.nn.optimizers import Optimizer
from app.sessions import budget
from app.sessions.config_input import (
    DatasetConfig,
    DatasetInput,
    InitConfig,
    InitInput,
    LayerWeights,
    Matrix,
    Merged,
    OptimizerConfig,
    RegularizationConfig,
    SessionConfig,
    Strict,
)
from app.sessions.normalized import (
    Dataset,
    GeneratedData,
    InitialWeights,
    InitParams,
    InlineData,
    NormalizedConfig,
    RegularizationParams,
    TruthTable,
    WeightsDocument,
    rows,
)
from app.sessions.presets import BASE, GENERATED_DEFAULTS, INIT_DEFAULTS, PRESETS

__all__ = ["BASE", "GENERATED_DEFAULTS", "PRESETS", "ConfigError", "DatasetConfig",
           "FieldPath", "InitConfig", "LayerWeights", "Matrix", "OptimizerConfig",
           "RegularizationConfig", "SessionConfig", "Strict", "check_memory", "normalize",
           "renormalize"]

T = TypeVar("T")


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


FieldPath = tuple[str | int, ...]  # ("layers", 2), ("dataset", "X", 0, 1), ("epochs",)


class ConfigError(ValueError):
    """An invalid value: ``path`` names its field, ``msg`` says the limit. Where the field sat
    in a request (body or query) is the HTTP layer's business (app/api/errors.py)."""

    def __init__(self, path: FieldPath, msg: str) -> None:
        super().__init__(msg)
        self.path = path
        self.msg = msg

def default_focus(dataset: JSON) -> int:
    """The sample the diagram follows by default. For the truth tables, (1, 0) (row 2): with
    (0, 0) every hidden z of a bias-free net is 0 and every a is 0.5, a dull first picture;
    (1, 0) has a target of 1 for XOR and OR and 0 for AND, and non-zero sums everywhere."""
    if isinstance(dataset, dict) and dataset.get("name") in datasets.TRUTH_TABLES:
        return 2
    return 0


def _merge_nested(base: JSON, given: JSONObject, key: str) -> JSONObject:
    """Overlay ``given`` on ``base`` unless the kind changes (another init scheme or dataset),
    in which case the base's parameters no longer apply (an init's seed and constant bias are
    not scheme parameters: they stay)."""
    base = dict(base) if isinstance(base, dict) else {}
    if key in given and given[key] is not None and given[key] != base.get(key):
        base = {k: v for k, v in base.items() if key == "scheme" and k in ("seed", "bias")}
    base.update({k: v for k, v in given.items() if v is not None})
    return base


def _finite_matrix(m: Matrix, loc: FieldPath, limit: float) -> None:
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            if not math.isfinite(v) or abs(v) > limit:
                raise ConfigError((*loc, i, j), f"values must be finite with |v| ≤ {limit:g}")


def _check_matrix(
    m: Matrix, loc: FieldPath, cols: int, what: str, limit: float
) -> None:
    for i, row in enumerate(m):
        if len(row) != cols:
            raise ConfigError((*loc, i), f"{what} rows must have {cols} columns (layers)")
    _finite_matrix(m, loc, limit)


def normalize(cfg: SessionConfig, settings: Settings) -> NormalizedConfig:
    """The complete config (every field present), or ConfigError naming the field and limit."""
    given: JSONObject = cfg.model_dump(exclude_unset=True)
    preset = cfg.preset
    given.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(("preset",), "unknown preset; one of "
                              + ", ".join(PRESETS))
        base = dict(PRESETS[preset]["config"])
    else:
        base = dict(BASE)
    out: JSONObject = {**base}
    for key, value in given.items():
        # (the nested fields are models: model_dump gives each as a dict or None)
        if key in ("init", "regularization", "optimizer") and isinstance(value, dict):
            sub = {"init": "scheme", "regularization": "kind", "optimizer": "name"}[key]
            out[key] = _merge_nested(base.get(key), value, sub)
        elif key == "dataset" and isinstance(value, dict):
            inline = value.get("X") is not None or value.get("name") == "inline"
            out[key] = value if inline else _merge_nested(base.get(key), value, "name")
        else:
            out[key] = value
    out["preset"] = preset
    # Changing the architecture drops a preset's explicit weights unless new ones are given.
    if "weights" not in given and any(
        k in given for k in ("layers", "bias")
    ):
        out["weights"] = None
    for key in ("hidden_activation", "output_activation", "loss", "reduction", "learning_rate",
                "bias", "train_bias", "features"):
        if out.get(key) is None:
            out[key] = BASE[key]
    if out.get("focus") is None:
        out["focus"] = default_focus(out.get("dataset"))
    for key in ("layers", "regularization", "optimizer"):
        if out.get(key) is None:
            out[key] = _copy(BASE[key])
    # Every top-level field is present now, each of SessionConfig's type (its model checked
    # the request's; the presets are written so): the shape _check reads.
    return _check(cast(Merged, out), settings)


def _copy(v: JSON) -> JSON:
    """A base's list or dict, copied (one level, as before: the base is never changed)."""
    return list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v


def check_optimizer(d: Mapping[str, object]) -> Optimizer:
    """The optimizer a (merged) config names, its parameters defaulted; ConfigError naming
    the field for a parameter of another optimizer or Nesterov without momentum."""
    name = str(d.get("name") or "sgd")
    own = OPTIMIZER_DEFAULTS[name]
    for key, value in d.items():
        if key != "name" and value is not None and key not in own:
            allowed = ", ".join(own) or "none"
            raise ConfigError(("optimizer", key), f"{name} has no parameter {key} (its "
                              f"parameters: {allowed})")
    opt = Optimizer.from_dict({"name": name, **own,
                               **{k: v for k, v in d.items() if k in own and v is not None}})
    if opt.name == "momentum" and opt.nesterov and opt.momentum <= 0:
        raise ConfigError(("optimizer", "nesterov"), "Nesterov momentum needs momentum > 0")
    return opt


def _check(c: Merged, s: Settings) -> NormalizedConfig:
    """The merged fields, checked in order (the first problem is the one reported) and typed."""
    layers = c["layers"]
    if not s.min_layers <= len(layers) <= s.max_layers:
        raise ConfigError(("layers",), f"layers must have {s.min_layers} to {s.max_layers} "
                          f"entries (input first); got {len(layers)}")
    for i, n in enumerate(layers):
        if not 1 <= n <= s.max_neurons:
            raise ConfigError(("layers", i), f"each layer has 1 to {s.max_neurons} neurons; "
                              f"got {n}")
    n_in, n_out = layers[0], layers[-1]
    out_act, loss = c["output_activation"], c["loss"]
    if out_act == "softmax" and n_out < 2:
        raise ConfigError(("output_activation",), "softmax needs at least 2 outputs "
                          "(the last entry of layers)")
    needs = LOSSES[loss].output
    if needs is not None and out_act != needs:
        raise ConfigError(("loss",), f"{loss} needs output_activation '{needs}'")
    lr = c["learning_rate"]
    if not 0 < lr <= s.max_learning_rate:
        raise ConfigError(("learning_rate",), f"learning_rate must be in (0, "
                          f"{s.max_learning_rate:g}]; got {lr:g}")
    reg = RegularizationParams(c["regularization"].get("kind", "none"),
                               c["regularization"].get("rate", 0.0))
    if not 0 <= reg.rate <= s.max_regularization_rate:
        raise ConfigError(("regularization", "rate"), "regularization rate must be in [0, "
                          f"{s.max_regularization_rate:g}]")
    # init: each field given, else its default
    given_init: InitInput = c["init"] or {}
    d0 = INIT_DEFAULTS
    init = InitParams(_or(given_init.get("scheme"), d0.scheme), _or(given_init.get("low"), d0.low),
                      _or(given_init.get("high"), d0.high), _or(given_init.get("std"), d0.std),
                      _or(given_init.get("seed"), d0.seed), _or(given_init.get("bias"), d0.bias))
    if init.scheme == "uniform" and not init.low < init.high:
        raise ConfigError(("init", "high"), "uniform init needs low < high")
    for key, v in (("low", init.low), ("high", init.high), ("std", init.std),
                   ("bias", init.bias)):
        if abs(v) > s.max_abs_value:
            raise ConfigError(("init", key), f"|{key}| must be ≤ {s.max_abs_value:g}")
    # explicit weights
    ws = c["weights"]
    weights = None if ws is None else _check_weights(ws, layers, c["bias"], s)
    # features, then the dataset
    fs = list(c["features"])
    if not fs or len(set(fs)) != len(fs):
        raise ConfigError(("features",), "features must be a non-empty list without repeats "
                          "from " + ", ".join(feats.NAMES))
    if not feats.is_default(fs) and n_in != len(fs):
        raise ConfigError(("features",), f"layers[0] must equal the number of features "
                          f"({len(fs)}: {', '.join(fs)}); got {n_in}")
    dataset = _check_dataset(c.get("dataset") or {"name": "xor"}, n_in, n_out, out_act, s,
                             raw_in=None if feats.is_default(fs) else 2)
    bs = c.get("batch_size")
    if bs is not None and bs < 1:
        raise ConfigError(("batch_size",), "batch_size must be ≥ 1 or null (full batch)")
    kernel = c.get("kernel") or kernel_slot.session_default(s.kernel)
    refused = kernel_slot.compiled_allowed(s.kernel) if kernel == "compiled" else None
    if refused is not None:
        raise ConfigError(("kernel",), f"kernel 'compiled' is not available: {refused}; use "
                          "'numpy'")
    config = NormalizedConfig(
        layers=tuple(layers), hidden_activation=c["hidden_activation"],
        output_activation=out_act, loss=loss, reduction=c["reduction"], learning_rate=lr,
        bias=c["bias"], train_bias=c["train_bias"], init=init,
        weights=weights, dataset=dataset, batch_size=bs, regularization=reg,
        focus=c["focus"], features=tuple(fs), preset=c["preset"], kernel=kernel,
        optimizer=check_optimizer(c["optimizer"]))
    check_memory(config, s)
    return config


def _check_weights(ws: list[WeightsDocument], layers: list[int], bias: bool, s: Settings
                   ) -> tuple[InitialWeights, ...]:
    if len(ws) != len(layers) - 1:
        raise ConfigError(("weights",), f"weights needs {len(layers) - 1} layers for "
                          f"layers {layers}; got {len(ws)}")
    for l, (w, n_prev, n) in enumerate(zip(ws, layers[:-1], layers[1:], strict=True)):
        if len(w["W"]) != n_prev:
            raise ConfigError(("weights", l, "W"), f"W of layer {l + 1} must be {n_prev} × "
                              f"{n} (n_(l-1) × n_l); got {len(w['W'])} rows")
        _check_matrix(w["W"], ("weights", l, "W"), n, f"W of layer {l + 1}", s.max_abs_value)
        b = w.get("b")
        if bias:
            if b is None or len(b) != n:
                raise ConfigError(("weights", l, "b"), f"b of layer {l + 1} must have "
                                  f"{n} entries (bias is on)")
            _finite_matrix([b], ("weights", l, "b"), s.max_abs_value)
        elif b is not None:
            raise ConfigError(("weights", l, "b"), "bias is off: omit b")
    return tuple(InitialWeights.from_dict(w) for w in ws)


def check_memory(c: NormalizedConfig, s: Settings, history_points: int = 0) -> None:
    """The per-session memory budget, from the shapes, before anything is allocated."""
    need = budget.session_bytes(c, history_points)
    if need <= s.session_max_bytes:
        return
    mib = 1 << 20
    small_batch = budget.session_bytes(replace(c, batch_size=1), history_points)
    loc: tuple[str, ...] = ("batch_size",) if small_batch <= s.session_max_bytes else (
        "dataset",)
    raise ConfigError(loc, f"this session could need {need / mib:.1f} MiB at its peak (weights, "
                      "data, one pass's trace and buffers over its batch, history), over the "
                      f"per-session memory budget of {s.session_max_bytes / mib:.1f} MiB "
                      "(setting session_max_bytes): use a smaller batch_size, fewer samples or "
                      "fewer or narrower layers")


def _check_dataset(
    d: DatasetInput, n_in: int, n_out: int, out_act: str, s: Settings,
    raw_in: int | None = None,
) -> Dataset:
    """``raw_in``: the columns of the raw inputs when features map them (2), else layers[0]."""
    name = d.get("name")
    extra = d.get("extra")
    if extra is not None:
        if len(extra) > s.max_added_points:
            raise ConfigError(("dataset", "extra"), f"at most {s.max_added_points} added "
                              f"points; got {len(extra)}")
        _check_matrix(extra, ("dataset", "extra"), 3, "added points [x₁, x₂, y]",
                      s.max_abs_value)
        if n_out != 1 and not (n_out == 2 and out_act == "softmax"):
            raise ConfigError(("dataset", "extra"), "points can be added only to data with "
                              "one target")
    added = None if extra is None else rows(extra)
    if d.get("X") is not None or name in (None, "inline"):
        if d.get("X") is None or d.get("Y") is None:
            raise ConfigError(("dataset",), "inline data needs both X and Y (or a name: "
                              + ", ".join(datasets.NAMES) + ")")
        out: dict[str, Matrix | None] = {}
        x_cols = raw_in or n_in
        if extra is not None and x_cols != 2:
            raise ConfigError(("dataset", "extra"), "points can be added only to 2-D data")
        for key, m, cols in (("X", d.get("X"), x_cols), ("Y", d.get("Y"), n_out),
                             ("X_test", d.get("X_test"), x_cols),
                             ("Y_test", d.get("Y_test"), n_out)):
            if m is None:
                out[key] = None
                continue
            if len(m) > s.max_samples:
                raise ConfigError(("dataset", key), f"at most {s.max_samples} samples; "
                                  f"got {len(m)}")
            what = "inputs (layers[0])" if key.startswith("X") else "targets (layers[-1])"
            _check_matrix(m, ("dataset", key), cols, f"{key} ({what})", s.max_abs_value)
            out[key] = m
        X, Y, X_test, Y_test = out["X"], out["Y"], out["X_test"], out["Y_test"]
        assert X is not None and Y is not None
        if len(X) == 0:
            raise ConfigError(("dataset", "X"), "X needs at least one sample")
        for key in ("X_test", "Y_test"):
            m = out[key]
            if m is not None and len(m) == 0:
                raise ConfigError(("dataset", key), f"{key} needs at least one sample; omit "
                                  "X_test and Y_test for no test set")
        for a, b in (("X", "Y"), ("X_test", "Y_test")):
            ma, mb = out[a], out[b]
            if (ma is None) != (mb is None) or (
                ma is not None and mb is not None and len(ma) != len(mb)
            ):
                raise ConfigError(("dataset", b), f"{a} and {b} need the same number of rows")
        return InlineData(rows(X), rows(Y), None if X_test is None else rows(X_test),
                          None if Y_test is None else rows(Y_test), added)
    if name not in datasets.NAMES:
        raise ConfigError(("dataset", "name"), "unknown dataset; one of "
                          + ", ".join(datasets.NAMES))
    if raw_in is None and n_in != 2:
        raise ConfigError(("layers", 0), f"dataset {name!r} has 2 inputs: layers must start "
                          f"with 2; got {n_in}")
    if not (n_out == 1 or (n_out == 2 and out_act == "softmax"
                           and name not in datasets.REGRESSION)):
        raise ConfigError(("layers", -1), f"dataset {name!r} has 1 target: layers must end "
                          "with 1 (or 2 with a softmax output for a classification set)")
    if name in datasets.TRUTH_TABLES:
        return TruthTable(name, added)
    g = GENERATED_DEFAULTS
    samples = _or(d.get("samples"), g["samples"])
    if samples > s.max_samples:
        raise ConfigError(("dataset", "samples"), f"at most {s.max_samples} samples; got "
                          f"{samples}")
    return GeneratedData(name, samples, _or(d.get("noise"), g["noise"]),
                         _or(d.get("test_ratio"), g["test_ratio"]),
                         _or(d.get("seed"), g["seed"]), added)


def renormalize(config: NormalizedConfig, changes: Mapping[str, object], settings: Settings
                ) -> NormalizedConfig:
    """``config`` with these fields replaced, checked again as a whole (the input model's
    bounds, then normalize's limits and shapes); the preset name stays."""
    fields: dict[str, object] = {k: v for k, v in config.to_dict().items() if k != "preset"}
    fields.update(changes)
    return replace(normalize(SessionConfig.model_validate(fields), settings),
                   preset=config.preset)
