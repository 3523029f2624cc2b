"""The export document (GET …/export, POST …/sessions/import, the pages' lesson files): one
model, here below the API and the pages, so that every door a document comes in by validates it
the same way before the importer reads it (issue 23: the page's /open passed raw JSON on)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.nn.stepper import Status
from app.sessions.config import LayerWeights


class ExportHistoryPoint(BaseModel):
    """One history point of an export document."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    epoch: int = Field(description="0-based epoch number")
    loss: float = Field(description="the epoch's loss")
    test_loss: float | None = Field(None, description="the epoch's test loss, if any")
    grad_norm: list[float] | None = Field(
        None, description="the epoch's gradient norms per layer, if recorded")


class ExportLayerOptimizerState(BaseModel):
    """One layer's optimizer moments in an export document (null where the optimizer keeps
    no such moment)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    m_W: list[list[float]] | None = Field(None, description="momentum's velocity or Adam's "
                                          "first moment m of W[l]")
    v_W: list[list[float]] | None = Field(None, description="RMSprop's or Adam's second "
                                          "moment v of W[l]")
    m_b: list[float] | None = Field(None, description="m of b[l]")
    v_b: list[float] | None = Field(None, description="v of b[l]")


class ExportOptimizerState(BaseModel):
    """The optimizer's state: import continues training exactly where the export stopped."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    step: int = Field(0, ge=0, description="the step count t")
    layers: list[ExportLayerOptimizerState] = Field(
        [], description="per layer, layer 1 first: the moments the config's optimizer keeps")


class ExportDocument(BaseModel):
    """GET /export's document; POST /sessions/import takes it back."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    format: Literal["backprop-lab-export/1"] = Field(description="the document format")
    config: dict[str, Any] = Field(description="the session's normalized config")
    weights: list[LayerWeights] = Field(description="the current weights, layer 1 first")
    epoch: int = Field(ge=0, description="epochs finished")
    iteration: int = Field(ge=0, description="updates applied")
    batch_pos: int = Field(0, ge=0, description="batches of the current epoch already done")
    mse_since: int = Field(0, ge=0, description="the first epoch recorded with the current "
                           "batch size, data and regularization (history points from it on "
                           "carry mse)")
    epoch_loss_sum: str = Field("0x0p+0", description="hex float, exact")
    epoch_test_loss: str | None = Field(
        None, description="hex float: the test loss at the start of a partly done epoch"
    )
    status: Status = Field("ok", description="as in the session state")
    history: list[ExportHistoryPoint] = Field([], description="the whole stored history")
    version: int = Field(0, ge=0, description="the session's version when exported")
    optimizer_state: ExportOptimizerState | None = Field(
        None, description="the optimizer's state; left out: fresh (t = 0, zero moments)")
