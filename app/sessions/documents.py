"""The export document (GET …/export, POST …/sessions/import, the pages' lesson files): one
model, here below the API and the pages, so that every door a document comes in by validates it
the same way before the importer reads it (issue 23: the page's /open passed raw JSON on);
and the export's half (the document's values come from app/sessions/snapshot.py), with the
checks of the import's counters (the import itself: app/sessions/service.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.config import Settings
from app.nn.stepper import Status
from app.sessions import snapshot
from app.sessions.config import ConfigError, LayerWeights
from app.sessions.model import Session
from app.sessions.parts import ExportDoc

EXPORT_FORMAT = snapshot.EXPORT_FORMAT


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


def history_cap(L: int, settings: Settings) -> int:
    """The most history points an export carries: half of max_import_bytes at the longest a
    point can be written (``{"epoch": …, "loss": …, "test_loss": …, "grad_norm": [L floats]}``,
    a float at most 24 characters), so that every export imports again (issue 23: 100,000
    points of a 10-layer network wrote 27.6 MB). The other half holds the weights (10 × 64 ×
    64 at most: ~1 MB), the config and its inline data (≤ max_body_bytes when created)."""
    per_point = 114 + 26 * L
    return max(16, (settings.max_import_bytes // 2) // per_point)


def _thinned(n: int, limit: int) -> list[int]:
    """Which of n history points an export keeps: every other one until at most ``limit``
    (first and last kept), the rule History.compact uses in the session itself."""
    idx = list(range(n))
    while len(idx) > limit:
        idx = [*idx[0 : len(idx) - 1 : 2], idx[-1]]
    return idx


def export(s: Session, settings: Settings | None = None) -> ExportDoc:
    """The session as a document POST /sessions/import takes back. With ``settings`` a history
    longer than ``history_cap`` is thinned as History.compact does (the curve's shape kept,
    every other point dropped), so the document fits max_import_bytes."""
    t = s.trainer
    n = len(t.history.epoch)
    keep = range(n) if settings is None or n <= history_cap(t.L, settings) else _thinned(
        n, history_cap(t.L, settings))
    return snapshot.document(s, keep)


def counter(doc: Mapping[str, object], key: str, limit: int) -> int:
    v = doc.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= limit:
        raise ConfigError((key,), f"{key} must be a whole number in 0..{limit}")
    return v


def hex_float(raw: Any, key: str, limit: float) -> float:
    try:
        value = snapshot.hex_float(raw)
    except (TypeError, ValueError, OverflowError):  # "0x1p+1024" overflows
        raise ConfigError((key,), f"{key} must be a hex float (as exported)") from None
    if not (math.isfinite(value) and abs(value) <= limit):
        raise ConfigError((key,), f"{key} must be finite with |value| ≤ {limit:g}")
    return value
