"""Pydantic models of the API: request bodies (strict, finite) and documented responses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.sessions.config import (
    LayerWeights,
    Matrix,
    RegularizationConfig,
    SessionConfig,
    Strict,
)

__all__ = ["SessionConfig"]


class Through(Strict):
    through: Literal["all"] | None = Field(
        None, description='"all" finishes the pass; omitted: one layer'
    )


class TrainRequest(Strict):
    epochs: int = Field(1, description="epochs to run (1 to the max_epochs setting, 100,000)")


class PatchRequest(Strict):
    learning_rate: float | None = Field(None, gt=0, description="η")
    regularization: RegularizationConfig | None = None
    batch_size: int | None = Field(None, ge=1, description="null: full batch")
    focus: int | None = Field(None, ge=0)
    train_bias: bool | None = None


class PointRequest(Strict):
    x1: float = Field(description="first input coordinate (raw, before the features)")
    x2: float = Field(description="second input coordinate")
    y: float = Field(description="target: 0 or 1 for a classification set")


class WeightsRequest(Strict):
    layers: list[LayerWeights]


class Cursor(BaseModel):
    next: Literal["forward", "backward", "update"]
    layer: int | None = Field(description="1-based layer; null at update")


class LayerState(BaseModel):
    W: Matrix
    b: list[float] | None
    z: Matrix | None
    a: Matrix | None
    delta: Matrix | None
    grad_W: Matrix | None
    grad_b: list[float] | None


class Batch(BaseModel):
    indices: list[int] = Field(description="dataset rows of the selected trace samples")
    positions: list[int] = Field(description="their positions in the batch")
    size: int = Field(description="samples in the whole batch")
    X: Matrix
    Y: Matrix


class Metrics(BaseModel):
    mse: float | None = Field(description="mean((ŷ − y)²) at the last completed forward pass")
    accuracy: float | None = Field(description="null for regression")


class HistoryPoint(BaseModel):
    epoch: int
    loss: float
    test_loss: float | None
    grad_norm: list[float] | None = Field(
        None, description="‖∂L/∂W_l‖ (Frobenius) per layer at the epoch's last batch")


class SessionState(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": "API.md §3"})

    id: str
    config: dict[str, Any] = Field(description="the normalized config, every field present")
    epoch: int
    iteration: int
    cursor: Cursor
    layers: list[LayerState] = Field(description="layers[l-1] holds layer l")
    batch: Batch
    output: Matrix | None = Field(description="ŷ of the current pass, once computed")
    per_sample_loss: list[float] | None = Field(description="ℓ_n of the current pass")
    loss: float | None = Field(description="the objective L at the last completed forward pass")
    metrics: Metrics
    history: list[HistoryPoint]
    history_length: int = Field(description="stored history points before ?history decimation")
    test_loss: float | None
    task: Literal["classification", "regression"]
    status: Literal["ok", "diverged"]


class TrainState(SessionState):
    ran: int = Field(description="epochs finished by this call")
    stopped: Literal["diverged", "time_budget"] | None


class GradcheckLayer(BaseModel):
    layer: int
    grad_W: Matrix
    grad_W_numeric: Matrix
    grad_b: list[float] | None
    grad_b_numeric: list[float] | None
    max_rel_error: float | None = Field(
        description="max |g − ĝ| / max(|g| + |ĝ|, 1e-6) over the layer"
    )


class Gradcheck(BaseModel):
    epsilon: float
    batch_indices: list[int]
    layers: list[GradcheckLayer]
    max_rel_error: float | None


class ExportHistoryPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    epoch: int
    loss: float
    test_loss: float | None = None
    grad_norm: list[float] | None = None


class ExportDocument(BaseModel):
    """GET /export's document; POST /sessions/import takes it back."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    format: Literal["backprop-lab-export/1"]
    config: dict[str, Any]
    weights: list[LayerWeights]
    epoch: int = Field(ge=0)
    iteration: int = Field(ge=0)
    batch_pos: int = Field(0, ge=0)
    epoch_loss_sum: str = Field("0x0p+0", description="hex float, exact")
    epoch_test_loss: str | None = Field(
        None, description="hex float: the test loss at the start of a partly done epoch"
    )
    status: Literal["ok", "diverged"] = "ok"
    history: list[ExportHistoryPoint] = []


class Preset(BaseModel):
    name: str
    description: str
    config: dict[str, Any]


class DatasetInfo(BaseModel):
    name: str
    kind: Literal["truth_table", "classification", "regression", "inline"]
    inputs: int | None
    parameters: dict[str, Any]
    description: str


class ErrorMessage(BaseModel):
    detail: str = Field(description="what went wrong, naming the limit or setting")


class CursorConflict(ErrorMessage):
    cursor: Literal["forward", "backward", "update"] = Field(description="where the cursor is")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    store: str
    sessions: int | None
