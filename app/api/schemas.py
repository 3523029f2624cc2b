"""Pydantic models of the API: request bodies (strict, finite) and documented responses.

One module: the whole wire contract (docs/api.md) in one place; the models are small and
refer to one another."""

from __future__ import annotations

from typing import Literal

from fastapi.openapi.models import Example
from pydantic import BaseModel, Field

from app.nn.kernel_slot import Implementation
from app.nn.stepper import Phase
from app.sessions.config import (
    LayerWeights,
    Matrix,
    OptimizerConfig,
    RegularizationConfig,
    SessionConfig,
    Strict,
)
from app.sessions.documents import ExportDocument, ExportHistoryPoint
from app.sessions.state_model import Cursor, SessionState, TrainState

# The session state is defined once, as the TypedDicts of app/sessions/state_model.py that the
# pages read too; FastAPI derives its schema from them (the same documented fields).
__all__ = ["Cursor", "ExportDocument", "ExportHistoryPoint", "SessionConfig", "SessionState",
           "TrainState"]


class Through(Strict):
    """How far a forward or backward call goes."""

    through: Literal["all"] | None = Field(
        None, description='"all" finishes the pass; omitted (or null): one layer'
    )


class TrainRequest(Strict):
    """How many epochs a train call runs."""

    epochs: int = Field(1, description="epochs to run (1 to the max_epochs setting, 100,000)")
    target_epoch: int | None = Field(
        None, ge=0, description="instead of `epochs`: train until the session's epoch is this "
        "(at most max_epochs beyond it); repeat the same call until `remaining` is 0")


# The bodies a call without a body stands for: request bodies are plain models with defaults
# (not "model or null"), which client generators handle.
DEFAULT_CONFIG = SessionConfig()
ONE_LAYER = Through()
ONE_EPOCH = TrainRequest()

CONFIG_EXAMPLES: dict[str, Example] = {
    "lesson": {"summary": "the lesson's network", "value": {"preset": "seed-xor"}},
    "preset-override": {"summary": "a preset with a field changed",
                        "value": {"preset": "seed-xor", "learning_rate": 0.5}},
    "spiral": {"summary": "a deeper network on a generated data set",
               "value": {"layers": [2, 8, 8, 1], "hidden_activation": "tanh",
                         "dataset": {"name": "spiral", "samples": 200, "noise": 0.1},
                         "batch_size": 20, "learning_rate": 0.05}},
    "adam": {"summary": "the spiral preset trained with Adam",
             "value": {"preset": "spiral", "optimizer": {"name": "adam"}}},
    "inline": {"summary": "your own data",
               "value": {"layers": [2, 3, 1], "dataset": {"X": [[0, 0], [0, 1], [1, 0], [1, 1]],
                                                          "Y": [[0], [1], [1], [1]]}}},
}
RESET_EXAMPLES: dict[str, Example] = {
    "same": {"summary": "start over with the same config", "value": {}},
    **CONFIG_EXAMPLES,
}
THROUGH_EXAMPLES: dict[str, Example] = {
    "one-layer": {"summary": "one layer (the same as no body)", "value": {}},
    "all": {"summary": "finish the pass", "value": {"through": "all"}},
}
POINT_EXAMPLES: dict[str, Example] = {
    "centre": {"summary": "a point in the middle of the XOR square, labelled 0",
               "value": {"x1": 0.5, "x2": 0.5, "y": 0}},
    "corner": {"summary": "a point near the (0, 1) corner, labelled 1",
               "value": {"x1": 0.1, "x2": 0.9, "y": 1}},
}
TRAIN_EXAMPLES: dict[str, Example] = {
    "one": {"summary": "one epoch (the same as no body)", "value": {}},
    "lesson": {"summary": "the rest of the lesson's 10,000 epochs", "value": {"epochs": 9999}},
    "target": {"summary": "up to epoch 100,000, one bounded call at a time",
               "value": {"target_epoch": 100000}},
}


class PatchRequest(Strict):
    """The hyperparameters to change; fields left out stay as they are."""

    learning_rate: float | None = Field(None, gt=0, description="η (at most max_learning_rate)")
    regularization: RegularizationConfig | None = Field(
        None, description="kind and/or rate; a field left out keeps its value")
    batch_size: int | None = Field(None, ge=1, description="samples per update; null: full batch")
    focus: int | None = Field(None, ge=0, description="training-sample index the trace follows "
                              "when the batch is too large to show whole")
    train_bias: bool | None = Field(None, description="whether updates change the biases")
    optimizer: OptimizerConfig | None = Field(
        None, description="another optimizer, or the same one's parameters (a field left out "
        "keeps its value when the name is unchanged); the weights stay, the optimizer's state "
        "(moments, step count) starts afresh")


class PointRequest(Strict):
    """One training sample to add to a 2-D data set: raw inputs (x1, x2) and its target y.
    Every value finite with |v| ≤ max_abs_value; y is 0 or 1 on a classification set."""

    x1: float = Field(description="first input coordinate, raw (the features are computed "
                      "from it), |x1| ≤ max_abs_value")
    x2: float = Field(description="second input coordinate, raw, |x2| ≤ max_abs_value")
    y: float = Field(description="target: 0 or 1 on a classification set (XOR included), "
                     "any finite value on a regression set")


class WeightsRequest(Strict):
    """Every layer's weights, layer 1 first."""

    layers: list[LayerWeights] = Field(description="one entry per layer, layer 1 first")


class GradcheckLayer(BaseModel):
    """Backprop's gradient of one layer beside the finite-difference one."""

    layer: int = Field(description="1-based layer")
    grad_W: Matrix = Field(description="∂L/∂W by backprop")
    grad_W_numeric: Matrix = Field(description="∂L/∂W by central differences")
    grad_b: list[float] | None = Field(description="∂L/∂b by backprop; null without biases")
    grad_b_numeric: list[float] | None = Field(description="∂L/∂b by central differences")
    max_rel_error: float | None = Field(
        description="max |g − ĝ| / max(|g| + |ĝ|, 1e-6) over the layer"
    )


class Gradcheck(BaseModel):
    """A gradient check on the current batch."""

    epsilon: float = Field(description="the finite-difference step ε used")
    batch_indices: list[int] = Field(description="dataset rows of the batch checked")
    layers: list[GradcheckLayer] = Field(description="one entry per layer, layer 1 first")
    max_rel_error: float | None = Field(description="the largest relative error of all layers")


class Preset(BaseModel):
    """A named config."""

    name: str = Field(description="what POST /sessions takes as preset")
    description: str = Field(description="what the preset shows")
    config: dict[str, object] = Field(description="the complete config it stands for")


class DatasetInfo(BaseModel):
    """A data set a config can name."""

    name: str = Field(description="the value of dataset.name")
    kind: Literal["truth_table", "classification", "regression", "inline"] = Field(
        description="truth tables are fixed; the others are generated from the parameters "
        "(inline: your own X and Y)")
    inputs: int | None = Field(description="input width; null for inline (yours)")
    parameters: dict[str, object] = Field(description="the dataset fields it takes, with their "
                                       "defaults")
    description: str = Field(description="what the data looks like")


class FieldError(BaseModel):
    """One invalid field."""

    loc: list[str | int] = Field(description='where: "body", "query" or "path", then the '
                                 "field's path (names and list positions)")
    msg: str = Field(description="what is wrong, naming the limit")
    type: str = Field(description="pydantic's error type, e.g. greater_than, missing")


class ValidationErrorReply(BaseModel):
    """The 422 reply: every invalid field."""

    detail: list[FieldError] = Field(description="one entry per invalid field")


class ErrorMessage(BaseModel):
    """An error reply."""

    detail: str = Field(description="what went wrong, naming the limit or setting")


class CursorConflict(ErrorMessage):
    """A step asked for out of turn."""

    cursor: Phase = Field(description="where the cursor is")


class Health(BaseModel):
    """Whether the server and its session store work."""

    status: Literal["ok", "degraded"] = Field(description="degraded: the store does not answer")
    store: str = Field(description="memory or redis")
    sessions: int | None = Field(description="sessions held; null when the store is down")
    kernel: Implementation = Field(
        description="numba once this worker has loaded the compiled kernel (at start-up, in a "
        "thread), numpy until then or when it never will (setting kernel = numpy, numba not "
        "installed). Each session's kernel is fixed at creation (config.kernel): sessions on "
        "the compiled one wait for it, never train on NumPy instead")


class WatchLink(BaseModel):
    """A read-only link to follow a session live."""

    watch_id: str = Field(description="read-only capability to follow the session")
    url: str = Field(description="the watch page, /w/{watch_id}")
    lan_urls: list[str] = Field(
        default_factory=list, description="the watch page's absolute URLs on this machine's "
        "network addresses (what students open in a classroom); empty when the server listens "
        "on loopback only (start it with `backprop-lab --lan`)")


class SetupLink(BaseModel):
    """A link that recreates a session's setup."""

    url: str = Field(description="/new?… recreating the configuration and initial weights")
