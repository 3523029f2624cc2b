"""The session state's one definition (docs/api.md, section 3): TypedDicts that the pages read
(app/sessions/state.py builds them), from which FastAPI derives the API's schema
(app/api/schemas.py; the descriptions are the ``Field``s), and against which the tests validate
every reply (tests/api/test_reply_model.py). Plain JSON-ready data but for ``config``: the
session's NormalizedConfig, whose wire form (``to_dict``) the JSON API sends."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal, NotRequired

from pydantic import (
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    WithJsonSchema,
)
from typing_extensions import TypedDict

from app.nn.stepper import Phase, Status, Stopped
from app.sessions.normalized import ConfigDocument, NormalizedConfig
from app.sessions.polls import PublicPoll

Rows = list[list[float]]
# The state's enums (app/nn/stepper.py); mypy reads them as the engine's strings.
Task = Literal["classification", "regression"]


class Cursor(TypedDict):
    """Where the session is in its pass: what the next forward/backward/update call does."""

    next: Annotated[Phase, Field(description="the step that is allowed next")]
    layer: Annotated[int | None, Field(description="1-based layer; null at update")]


CursorState = Cursor


class LayerOptimizerState(TypedDict):
    """The optimizer's state of one layer (docs/api.md, Optimizers): null where the chosen
    optimizer keeps no such moment."""

    m_W: NotRequired[Annotated[Rows | None, Field(
        description="momentum's velocity or Adam's first moment m of W[l]")]]
    v_W: NotRequired[Annotated[Rows | None, Field(
        description="RMSprop's or Adam's second moment v of W[l]")]]
    m_b: NotRequired[Annotated[list[float] | None, Field(description="m of b[l]")]]
    v_b: NotRequired[Annotated[list[float] | None, Field(description="v of b[l]")]]


class LayerState(TypedDict):
    """One layer l: its parameters and, once computed in the current pass, its trace (rows
    for the selected samples only)."""

    W: Annotated[Rows, Field(description="W[l], n_{l-1} × n_l")]
    b: Annotated[list[float] | None, Field(description="b[l], length n_l; null without biases")]
    z: Annotated[Rows | None, Field(description="z[l] = a[l-1] W[l] + b[l], one row per "
                                    "selected sample; null until this pass computed it")]
    a: Annotated[Rows | None, Field(description="a[l] = f(z[l]); null until computed")]
    delta: Annotated[Rows | None, Field(description="delta[l] = ∂L/∂z[l]; null until the "
                                        "backward pass reached this layer")]
    grad_W: Annotated[Rows | None, Field(description="∂L/∂W[l] = a[l-1]ᵀ delta[l] (+ the "
                                         "regularization gradient), over the whole batch")]
    grad_b: Annotated[list[float] | None, Field(description="∂L/∂b[l] = Σ_n delta[l]; null "
                                                "without biases or until computed")]
    optimizer: NotRequired[Annotated[LayerOptimizerState, Field(
        description="the optimizer's moments of this layer's W and b")]]


class Batch(TypedDict):
    """The current batch and the samples of it the trace shows."""

    indices: Annotated[list[int], Field(description="dataset rows of the selected trace "
                                        "samples")]
    positions: Annotated[list[int], Field(description="their positions in the batch")]
    size: Annotated[int, Field(description="samples in the whole batch")]
    X: Annotated[Rows, Field(description="the selected samples' inputs, one row each")]
    Y: Annotated[Rows, Field(description="their targets, one row each")]


BatchState = Batch


class Metrics(TypedDict):
    """Measures of the last completed forward pass."""

    mse: Annotated[float | None, Field(
        description="mean((ŷ − y)²) at the last completed forward pass")]
    accuracy: Annotated[float | None, Field(description="null for regression")]


class HistoryPoint(TypedDict):
    """The loss of one finished epoch."""

    epoch: Annotated[int, Field(description="0-based epoch number (the lesson prints Epoch 0 "
                                "first)")]
    loss: Annotated[float, Field(description="the objective L over the epoch (mean of its "
                                 "batch losses)")]
    test_loss: Annotated[float | None, Field(description="L on the test split at the weights "
                                             "the epoch started with; null without a test "
                                             "split")]
    grad_norm: NotRequired[Annotated[list[float] | None, Field(
        description="‖∂L/∂W_l‖ (Frobenius) per layer at the epoch's last batch, before its "
        "update (regularization term included); null when not recorded")]]
    mse: NotRequired[Annotated[float | None, Field(
        description="the lesson's number: mean((ŷ − y)²) over the epoch's samples and "
        "outputs, i.e. loss · 2 / (B·K) with reduction sum (loss is ½Σ over a batch of B) or "
        "loss · 2 / K with mean. Null for other losses, with a regularization penalty, when "
        "the last batch is smaller, for epochs before the batch size, data or penalty last "
        "changed, or where it would exceed the largest float")]]


class UndoCounts(TypedDict):
    """How far undo and redo can go: restore points kept each way (at most undo_depth)."""

    back: Annotated[int, Field(description="operations that can be undone")]
    forward: Annotated[int, Field(description="undone operations that can be redone")]


@cache
def _config_documents() -> TypeAdapter[list[ConfigDocument]]:
    # (a list: TypeAdapter takes a config only for a type that has none of its own)
    return TypeAdapter(list[ConfigDocument], config=ConfigDict(extra="forbid", strict=True))


def _config_in(v: object) -> NormalizedConfig:
    """The state's config read back (a reply checked in the tests): the session's own, or its
    wire form, checked key for key."""
    if isinstance(v, NormalizedConfig):
        return v
    return NormalizedConfig.from_dict(_config_documents().validate_python([v])[0])


# The pages read the session's NormalizedConfig; the JSON API sends its wire form
# (``to_dict``, a ConfigDocument), which the schema shows as an open object.
StateConfig = Annotated[
    NormalizedConfig,
    PlainValidator(_config_in),
    PlainSerializer(NormalizedConfig.to_dict),
    WithJsonSchema({"additionalProperties": True, "type": "object"}),
]


class SessionState(TypedDict):
    """Everything about a session: its config, weights, cursor, the trace of the current pass,
    the loss and the (decimated) loss history. See docs/api.md."""

    id: Annotated[str, Field(description="the session's id, for the URLs")]
    config: Annotated[StateConfig, Field(description="the normalized config, every field "
                                         "present")]
    epoch: Annotated[int, Field(description="epochs finished")]
    iteration: Annotated[int, Field(description="updates applied (one per batch)")]
    cursor: Annotated[Cursor, Field(description="the next allowed step")]
    layers: Annotated[list[LayerState], Field(description="layers[l-1] holds layer l")]
    batch: Annotated[Batch, Field(description="the current batch and the samples the trace "
                                  "shows")]
    output: Annotated[Rows | None, Field(description="ŷ of the current pass, once computed")]
    per_sample_loss: Annotated[list[float] | None, Field(description="ℓ_n of the current "
                                                         "pass")]
    loss: Annotated[float | None, Field(description="the objective L at the last completed "
                                        "forward pass")]
    metrics: Annotated[Metrics, Field(description="mse and accuracy of the last completed "
                                      "forward pass")]
    history: Annotated[list[HistoryPoint], Field(
        description="one point per finished epoch, evenly decimated to the ?history limit "
        "(250 by default), first and last kept")]
    history_length: Annotated[int, Field(description="stored history points before ?history "
                                         "decimation")]
    test_loss: Annotated[float | None, Field(description="the latest epoch's test loss; null "
                                             "without a test split or before the first "
                                             "epoch")]
    task: Annotated[Task, Field(description="regression when the targets are not class "
                                "labels (no accuracy)")]
    status: Annotated[Status, Field(description="diverged: the last step gave a non-finite "
                                    "value and was not applied")]
    version: Annotated[int, Field(description="increases with every state change (undo/redo "
                                  "included)")]
    undo: Annotated[UndoCounts, Field(description="how many operations can be undone and "
                                      "redone")]
    optimizer_step: NotRequired[Annotated[int, Field(
        0, description="the optimizer's step count t: updates made since its state was last "
        "fresh (Adam's bias correction)")]]


class TrainState(SessionState):
    """The state after a train call, with what the call did."""

    ran: Annotated[int, Field(description="epochs finished by this call")]
    stopped: Annotated[Stopped | None, Field(
        description="why it stopped before `epochs`: a step diverged, or the call reached "
        "train_time_budget; null when it ran them all")]
    remaining: Annotated[int, Field(
        description="epochs still to go: of `epochs`, or up to `target_epoch`; 0 when done")]


class WatchState(SessionState):
    """The state a watch link shows (GET /watch/{watch_id}), with the poll its students see
    (docs/api.md, Class polls). Its schema in /openapi.json is still SessionState's."""

    poll: PublicPoll | None
