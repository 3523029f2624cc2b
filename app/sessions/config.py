"""The session configuration: the input model (every field optional), presets, and
normalisation into a complete config checked against the limits in Settings.

One module: the input model, the presets and ``normalize`` are one contract: every field's
default, limit and check in one place."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.config import Settings
from app.nn import datasets, kernel_slot
from app.nn import features as feats
from app.nn.kernel_slot import SessionKernel
from app.nn.losses import LOSSES
from app.nn.optimizers import DEFAULTS as OPTIMIZER_DEFAULTS
from app.nn.optimizers import Optimizer
from app.sessions import budget
from app.sessions.normalized import (
    Activation,
    Dataset,
    FeatureName,
    GeneratedData,
    InitialWeights,
    InitParams,
    InitScheme,
    InlineData,
    LossName,
    NormalizedConfig,
    OptimizerName,
    OutputActivation,
    Reduction,
    RegularizationKind,
    RegularizationParams,
    TruthTable,
    rows,
)

Matrix = list[list[float]]


FieldPath = tuple[str | int, ...]  # ("layers", 2), ("dataset", "X", 0, 1), ("epochs",)


class ConfigError(ValueError):
    """An invalid value: ``path`` names its field, ``msg`` says the limit. Where the field sat
    in a request (body or query) is the HTTP layer's business (app/api/errors.py)."""

    def __init__(self, path: FieldPath, msg: str) -> None:
        super().__init__(msg)
        self.path = path
        self.msg = msg


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class InitConfig(Strict):
    scheme: InitScheme | None = Field(
        None, description="uniform (low, high), normal (std), xavier (Glorot uniform), he"
    )
    low: float | None = Field(None, description="uniform: lower bound")
    high: float | None = Field(None, description="uniform: upper bound (exclusive)")
    std: float | None = Field(None, ge=0, description="normal: standard deviation")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="RandomState seed")
    bias: float | None = Field(None, description="constant initial bias")


class DatasetConfig(Strict):
    name: str | None = Field(
        None, max_length=64, description="xor, and, or, circle, xor_scatter, gauss, spiral, plane, "
        "multi_gauss; omit (or 'inline') with X and Y"
    )
    samples: int | None = Field(None, ge=2, description="generated sets: number of points")
    noise: float | None = Field(None, ge=0, le=1, description="generated sets: noise 0–1")
    test_ratio: float | None = Field(None, ge=0, lt=1, description="share held out for test")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="generator seed")
    X: Matrix | None = Field(None, description="inline inputs, one sample per row")
    Y: Matrix | None = Field(None, description="inline targets, one sample per row")
    X_test: Matrix | None = None
    Y_test: Matrix | None = None
    extra: Matrix | None = Field(
        None, description="points added to the training data (POST …/points): rows "
        "[x₁, x₂, y] in raw input coordinates"
    )


class RegularizationConfig(Strict):
    kind: RegularizationKind = "none"
    rate: float = Field(0.0, ge=0)


class OptimizerConfig(Strict):
    """The optimizer and its parameters (docs/api.md, Optimizers); a parameter left out takes
    its default, one another optimizer has is refused."""

    name: OptimizerName | None = Field(
        None, description="sgd (default), momentum, rmsprop or adam")
    momentum: float | None = Field(None, ge=0, lt=1, description="momentum: μ (default 0.9)")
    nesterov: bool | None = Field(None, description="momentum: Nesterov's form (default false)")
    alpha: float | None = Field(None, ge=0, lt=1, description="rmsprop: α, the decay of the "
                                "squared-gradient average (default 0.99)")
    eps: float | None = Field(None, gt=0, le=1, description="rmsprop, adam: ε in the "
                              "denominator (default 1e-8)")
    beta1: float | None = Field(None, ge=0, lt=1, description="adam: β₁ (default 0.9)")
    beta2: float | None = Field(None, ge=0, lt=1, description="adam: β₂ (default 0.999)")


class LayerWeights(Strict):
    W: Matrix = Field(description="n_{l-1} × n_l")
    b: list[float] | None = Field(None, description="length n_l; omit without biases")


class SessionConfig(Strict):
    """Every field is optional: a preset supplies defaults and fields beside it override them."""

    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False,
        json_schema_extra={"examples": [{"preset": "seed-xor"},
                                        {"layers": [2, 8, 1], "dataset": {"name": "spiral"}}]},
    )

    preset: str | None = Field(None, max_length=64,
                               description="a name from GET /api/v1/presets")
    layers: list[int] | None = Field(None, description="neurons per layer, input first")
    hidden_activation: Activation | None = None
    output_activation: OutputActivation | None = None
    loss: LossName | None = None
    reduction: Reduction | None = None
    learning_rate: Annotated[float, Field(gt=0)] | None = Field(None, description="η")
    bias: bool | None = Field(None, description="whether the layers have biases")
    train_bias: bool | None = Field(None, description="whether updates change the biases")
    init: InitConfig | None = None
    weights: list[LayerWeights] | None = Field(None, description="explicit initial weights")
    dataset: DatasetConfig | None = None
    batch_size: Annotated[int, Field(ge=1)] | None = Field(None, description="null: full batch")
    regularization: RegularizationConfig | None = None
    focus: Annotated[int, Field(ge=0)] | None = Field(None, description="sample index to trace")
    features: list[FeatureName] | None = Field(
        None, description="input features for 2-D data, as in TensorFlow Playground "
        "(default [\"x1\", \"x2\"]); layers[0] must equal their number"
    )
    kernel: SessionKernel | None = Field(
        None, description="the training kernel, fixed for the session's life: numpy (bit for "
        "bit the step-through arithmetic and the lesson's own loop) or compiled (numba: "
        "faster; agrees to ~1e-15 relative per step). Default: numpy for the lesson preset "
        "(seed-xor), else compiled where the server has numba (setting kernel)")
    optimizer: OptimizerConfig | None = Field(
        None, description='how a gradient becomes a step; default {"name": "sgd"}')


# ---------------------------------------------------------------------------------------------
INIT_DEFAULTS: dict[str, Any] = {"low": 0.0, "high": 1.0, "std": 1.0, "seed": 0, "bias": 0.0}
GENERATED_DEFAULTS: dict[str, Any] = {"samples": 200, "noise": 0.1, "test_ratio": 0.5, "seed": 0}

BASE: dict[str, Any] = {
    "layers": [2, 4, 1],
    "hidden_activation": "sigmoid",
    "output_activation": "sigmoid",
    "loss": "squared_error",
    "reduction": "sum",
    "learning_rate": 0.1,
    "bias": True,
    "train_bias": True,
    "init": {"scheme": "xavier", "seed": 1},
    "weights": None,
    "dataset": {"name": "xor"},
    "batch_size": None,
    "regularization": {"kind": "none", "rate": 0.0},
    "focus": None,  # resolved in normalize(): an informative sample
    "features": ["x1", "x2"],
    "optimizer": {"name": "sgd"},
}

def _deep(hidden: str, scheme: str) -> dict[str, Any]:
    """The deep-sigmoid / deep-relu pair: one network, two hidden activations."""
    return {**BASE, "layers": [2, 6, 6, 6, 6, 6, 1], "hidden_activation": hidden,
            "loss": "binary_cross_entropy", "reduction": "mean", "learning_rate": 0.3,
            "init": {"scheme": scheme, "seed": 0}, "dataset": {"name": "circle"},
            "batch_size": 10}


PRESETS: dict[str, dict[str, Any]] = {
    "seed-xor": {
        "description": "The lesson's network exactly: 2-4-1 sigmoid, ½Σ squared error, η = 0.1, "
        "no biases, uniform [0, 1) weights from seed 1, XOR, full batch.",
        # NumPy: bit for bit the lesson's own loop, so its printed losses match to the last digit.
        "config": {**BASE, "bias": False, "init": {"scheme": "uniform", "low": 0.0, "high": 1.0,
                                                   "seed": 1}, "kernel": "numpy"},
    },
    "xor-bias": {
        "description": "XOR with biases and tanh hidden units: learns in a few hundred epochs.",
        "config": {**BASE, "layers": [2, 3, 1], "hidden_activation": "tanh",
                   "learning_rate": 0.5, "init": {"scheme": "xavier", "seed": 3}},
    },
    "and-perceptron": {
        "description": "One sigmoid neuron learns AND: the smallest network with a gradient.",
        "config": {**BASE, "layers": [2, 1], "learning_rate": 1.0, "dataset": {"name": "and"}},
    },
    "worked-example": {
        "description": "Matt Mazur's 2-2-2 step-by-step example (weights, biases, targets 0.01 / "
        "0.99, η = 0.5): one update reproduces his published numbers. Biases are frozen, as "
        "in his walk-through.",
        "config": {
            **BASE,
            "layers": [2, 2, 2],
            "learning_rate": 0.5,
            "train_bias": False,
            "weights": [
                {"W": [[0.15, 0.25], [0.20, 0.30]], "b": [0.35, 0.35]},
                {"W": [[0.40, 0.50], [0.45, 0.55]], "b": [0.60, 0.60]},
            ],
            "dataset": {"name": "inline", "X": [[0.05, 0.10]], "Y": [[0.01, 0.99]]},
        },
    },
    "circle": {
        "description": "Inside or outside a circle: 2-4-1 tanh, binary cross-entropy.",
        "config": {**BASE, "layers": [2, 4, 1], "hidden_activation": "tanh",
                   "loss": "binary_cross_entropy", "reduction": "mean", "learning_rate": 0.3,
                   "dataset": {"name": "circle"}, "batch_size": 10},
    },
    "spiral": {
        "description": "Two interleaved spirals: a deeper tanh network, mini-batches of 10.",
        "config": {**BASE, "layers": [2, 8, 8, 1], "hidden_activation": "tanh",
                   "loss": "binary_cross_entropy", "reduction": "mean", "learning_rate": 0.1,
                   "dataset": {"name": "spiral", "samples": 400}, "batch_size": 10},
    },
    "gauss-softmax": {
        "description": "Two Gaussian clusters, two softmax outputs and cross-entropy.",
        "config": {**BASE, "layers": [2, 3, 2], "hidden_activation": "relu",
                   "output_activation": "softmax", "loss": "cross_entropy",
                   "reduction": "mean", "learning_rate": 0.1, "init": {"scheme": "he", "seed": 0},
                   "dataset": {"name": "gauss"}},
    },
    "deep-sigmoid": {
        "description": "Vanishing gradients: five sigmoid hidden layers on the circle. The "
        "gradient-norm chart shows ‖∂L/∂W‖ shrinking layer by layer towards the input; "
        "compare deep-relu, the same network with ReLU.",
        "config": _deep("sigmoid", "xavier"),
    },
    "deep-relu": {
        "description": "The deep-sigmoid network with ReLU hidden units and He initialisation: "
        "the gradient norms of all layers stay within the same order of magnitude.",
        "config": _deep("relu", "he"),
    },
    "plane-regression": {
        "description": "Regression of a tilted plane with a linear output.",
        "config": {**BASE, "layers": [2, 3, 1], "hidden_activation": "tanh",
                   "output_activation": "linear", "reduction": "mean", "learning_rate": 0.05,
                   "dataset": {"name": "plane"}, "batch_size": 20},
    },
}


def default_focus(dataset: dict[str, Any] | None) -> int:
    """The sample the diagram follows by default. For the truth tables, (1, 0) (row 2): with
    (0, 0) every hidden z of a bias-free net is 0 and every a is 0.5, a dull first picture;
    (1, 0) has a target of 1 for XOR and OR and 0 for AND, and non-zero sums everywhere."""
    if dataset is not None and dataset.get("name") in datasets.TRUTH_TABLES:
        return 2
    return 0


def _merge_nested(base: dict[str, Any] | None, given: dict[str, Any], key: str) -> dict[str, Any]:
    """Overlay ``given`` on ``base`` unless the kind changes (another init scheme or dataset),
    in which case the base's parameters no longer apply (an init's seed and constant bias are
    not scheme parameters: they stay)."""
    base = dict(base or {})
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
    given = cfg.model_dump(exclude_unset=True)
    preset = given.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(("preset",), "unknown preset; one of "
                              + ", ".join(PRESETS))
        base = dict(PRESETS[preset]["config"])
    else:
        base = dict(BASE)
    out: dict[str, Any] = {**base}
    for key, value in given.items():
        if key in ("init", "regularization", "optimizer") and value is not None:
            sub = {"init": "scheme", "regularization": "kind", "optimizer": "name"}[key]
            out[key] = _merge_nested(base.get(key), value, sub)
        elif key == "dataset" and value is not None:
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
    if out.get("layers") is None:
        out["layers"] = list(BASE["layers"])
    if out.get("regularization") is None:
        out["regularization"] = dict(BASE["regularization"])
    if out.get("optimizer") is None:
        out["optimizer"] = dict(BASE["optimizer"])
    return _check(out, settings)


def check_optimizer(d: dict[str, Any]) -> Optimizer:
    """The optimizer a (merged) config names, its parameters defaulted; ConfigError naming
    the field for a parameter of another optimizer or Nesterov without momentum."""
    name = d.get("name") or "sgd"
    own = OPTIMIZER_DEFAULTS[name]
    for key, value in d.items():
        if key != "name" and value is not None and key not in own:
            allowed = ", ".join(own) or "none"
            raise ConfigError(("optimizer", key), f"{name} has no parameter {key} (its "
                              f"parameters: {allowed})")
    params = {**own, **{k: v for k, v in d.items() if k in own and v is not None}}
    if params.get("nesterov") and params["momentum"] <= 0:
        raise ConfigError(("optimizer", "nesterov"), "Nesterov momentum needs momentum > 0")
    return Optimizer(name, **params)


def _check(c: dict[str, Any], s: Settings) -> NormalizedConfig:
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
    # init
    init = {**INIT_DEFAULTS, **{k: v for k, v in (c.get("init") or {}).items() if v is not None}}
    if init.get("scheme") is None:
        init["scheme"] = "xavier"
    if init["scheme"] == "uniform" and not init["low"] < init["high"]:
        raise ConfigError(("init", "high"), "uniform init needs low < high")
    for key in ("low", "high", "std", "bias"):
        if abs(init[key]) > s.max_abs_value:
            raise ConfigError(("init", key), f"|{key}| must be ≤ {s.max_abs_value:g}")
    # explicit weights
    weights = None if c.get("weights") is None else _check_weights(c["weights"], layers,
                                                                   c["bias"], s)
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
        bias=c["bias"], train_bias=c["train_bias"], init=InitParams.from_dict(init),
        weights=weights, dataset=dataset, batch_size=bs, regularization=reg,
        focus=c["focus"], features=tuple(fs), preset=c["preset"], kernel=kernel,
        optimizer=check_optimizer(c["optimizer"]))
    check_memory(config, s)
    return config


def _check_weights(ws: list[dict[str, Any]], layers: list[int], bias: bool, s: Settings
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
    d: dict[str, Any], n_in: int, n_out: int, out_act: str, s: Settings,
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
        for key, cols in (("X", x_cols), ("Y", n_out), ("X_test", x_cols), ("Y_test", n_out)):
            m = d.get(key)
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
    gen: dict[str, Any] = {**GENERATED_DEFAULTS,
                           **{k: v for k, v in d.items() if v is not None
                              and k in GENERATED_DEFAULTS}}
    if gen["samples"] > s.max_samples:
        raise ConfigError(("dataset", "samples"), f"at most {s.max_samples} samples; got "
                          f"{gen['samples']}")
    return GeneratedData(name, gen["samples"], gen["noise"], gen["test_ratio"], gen["seed"],
                         added)


def renormalize(config: NormalizedConfig, changes: dict[str, Any], settings: Settings
                ) -> NormalizedConfig:
    """``config`` with these fields replaced, checked again as a whole (the input model's
    bounds, then normalize's limits and shapes); the preset name stays."""
    fields = {k: v for k, v in config.to_dict().items() if k != "preset"}
    fields.update(changes)
    return replace(normalize(SessionConfig.model_validate(fields), settings),
                   preset=config.preset)
