"""The session configuration as a request gives it: the input models (every field optional,
strict, finite), which the OpenAPI schema shows as SessionConfig and its parts, and the shape
of their fields merged over a preset, which ``normalize`` (app/sessions/config.py) checks and
turns into a complete NormalizedConfig."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, NotRequired

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from app.nn.kernel_slot import SessionKernel
from app.sessions.normalized import (
    Activation,
    FeatureName,
    InitScheme,
    LossName,
    OptimizerName,
    OutputActivation,
    Reduction,
    RegularizationKind,
    WeightsDocument,
)

Matrix = list[list[float]]


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


class InitInput(TypedDict, total=False):
    """The merged fields of an init (any may be None: its default)."""

    scheme: str | None
    low: float | None
    high: float | None
    std: float | None
    seed: int | None
    bias: float | None


class DatasetInput(TypedDict, total=False):
    """The merged fields of a data set (DatasetConfig's, any may be None)."""

    name: str | None
    samples: int | None
    noise: float | None
    test_ratio: float | None
    seed: int | None
    X: Matrix | None
    Y: Matrix | None
    X_test: Matrix | None
    Y_test: Matrix | None
    extra: Matrix | None


class RegularizationInput(TypedDict, total=False):
    kind: str
    rate: float


class Merged(TypedDict):
    """A request's fields over its preset's (or the base), every top-level field present:
    what ``_check`` reads (SessionConfig's shape, as ``model_dump`` gives it)."""

    layers: list[int]
    hidden_activation: str
    output_activation: str
    loss: str
    reduction: str
    learning_rate: float
    bias: bool
    train_bias: bool
    init: InitInput | None
    weights: list[WeightsDocument] | None
    dataset: DatasetInput | None
    batch_size: int | None
    regularization: RegularizationInput
    focus: int
    features: list[str]
    preset: str | None
    optimizer: Mapping[str, object]
    kernel: NotRequired[SessionKernel | None]
