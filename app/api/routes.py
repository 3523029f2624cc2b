"""The /api/v1 session routes: thin wrappers that send a typed command through the door
(app/sessions/door.py). What they share is in operate.py; the teaching routes are in
teaching.py, the catalogues (presets, data sets) in catalogues.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse

from app.api import bodies, catalogues, errors, schemas
from app.api.operate import (
    BODY_ERRORS,
    CREATION,
    CURSOR,
    INVALID,
    NOT_FOUND,
    ON_SESSION,
    SESSION,
    UNAVAILABLE,
    WITH_BODY,
    HistoryQ,
    OperateDep,
    Responses,
    SamplesQ,
    SessionId,
    history_points,
    location_of,
    prechecked,
    render,
    respond,
    state_doc,
)
from app.deps import DoorDep, SettingsDep, check_creation
from app.sessions import commands, service
from app.sessions.commands import Create, Delete, Import, Trained, Unchanged
from app.sessions.config import ConfigError, normalize
from app.sessions.door import Outcome
from app.sessions.model import Session
from app.sessions.parts import ExportDoc, LayerDoc
from app.sessions.render_budget import session_state_cost
from app.sessions.service import GradcheckReport

router = APIRouter(prefix="/api/v1")


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def _change(method: str, path: str, summary: str) -> Callable[[Endpoint], Endpoint]:
    """A route that changes the session from a body and replies with its state; documented
    by the endpoint's docstring (one paragraph) and STATE_REPLY."""
    def register(endpoint: Endpoint) -> Endpoint:
        text = " ".join((endpoint.__doc__ or "").split())
        router.add_api_route(path, endpoint, methods=[method],
                             response_model=schemas.SessionState, responses=WITH_BODY,
                             tags=["sessions"], summary=summary, description=state_doc(text))
        return endpoint
    return register


@router.post("/sessions", status_code=201, response_model=schemas.SessionState,
             responses={**UNAVAILABLE, **BODY_ERRORS, **INVALID, **CREATION}, tags=["sessions"],
             summary="Create a session",
             description=state_doc(
                 "Creates a network with its data set from a config. Every field is optional: "
                 "`preset` (see GET /api/v1/presets) supplies defaults and the fields beside it "
                 "override them; without a preset the defaults are a 2-4-1 sigmoid XOR network. "
                 "The cursor starts at forward, layer 1, epoch 0. The reply's Location header "
                 "is the session's URL. An empty body (or none) uses the defaults."))
async def create_session(
    request: Request, door: DoorDep, settings: SettingsDep,
    config: Annotated[schemas.SessionConfig, Body(
        openapi_examples=schemas.CONFIG_EXAMPLES)] = schemas.DEFAULT_CONFIG,
    samples: SamplesQ = None, history: HistoryQ = None,
) -> JSONResponse:
    points = history_points(history, settings)
    sid, state = await door.create(Create(config), admit=partial(check_creation, request),
                                   view=lambda s: render(s, settings, samples, points))
    return respond(state, 201, {"Location": location_of(request, settings, sid)})


@router.get(SESSION, response_model=schemas.SessionState, responses=ON_SESSION,
            tags=["sessions"], summary="Read a session",
            description=state_doc("Reads the session without changing it; allowed at any cursor."))
async def get_session(op: OperateDep) -> JSONResponse:
    return await op(commands.State())


@_change("PATCH", SESSION, "Change hyperparameters")
async def patch_session(body: schemas.PatchRequest, op: OperateDep) -> JSONResponse:
    """Changes learning_rate, regularization, batch_size, focus or train_bias; only the fields
    sent change, weights and history stay. Allowed at any cursor: a change that affects the
    current pass (batch_size, regularization) restarts it at forward, layer 1; a diverged
    session becomes ok."""
    return await op(commands.Patch(body.model_dump(exclude_unset=True)))


@router.delete(SESSION, status_code=204, response_class=Response,
               responses={**NOT_FOUND, **UNAVAILABLE, **INVALID}, tags=["sessions"],
               summary="Delete a session",
               description="Forgets the session at once (it would otherwise expire after "
               "session_ttl idle seconds). Replies 204 with no body; a second delete is 404.")
async def delete_session(session_id: SessionId, door: DoorDep) -> Response:
    await door.apply(session_id, Delete())  # (its watch link revoked: its streams end)
    return Response(status_code=204)


def _pass_route(direction: Literal["forward", "backward"], summary: str, text: str) -> None:
    """The forward and backward routes: one layer, or the rest of the pass (``through``)."""

    @router.post(f"{SESSION}/{direction}", response_model=schemas.SessionState,
                 responses={**WITH_BODY, **CURSOR}, tags=["stepping"], name=direction,
                 summary=summary, description=state_doc(text))
    async def step_pass(op: OperateDep, body: Annotated[schemas.Through, Body(
                            openapi_examples=schemas.THROUGH_EXAMPLES)] = schemas.ONE_LAYER,
                        ) -> JSONResponse:
        through = body.through == "all"
        return await op(commands.Forward(through) if direction == "forward"
                        else commands.Backward(through))


_pass_route(
    "forward", "Forward one layer (or the whole pass)",
    "Allowed when cursor.next is `forward` (else 409). Computes z[l] = a[l-1] W[l] "
    "+ b[l] and a[l] = f(z[l]) for the cursor's layer and moves the cursor to the "
    "next layer; at the output layer it also computes ŷ, the per-sample losses, "
    "loss and metrics, and the cursor moves to backward, layer L. "
    "`{\"through\": \"all\"}` finishes the pass in one call. A non-finite result "
    "is not kept: status becomes diverged and the cursor returns to forward, "
    "layer 1.")
_pass_route(
    "backward", "Backward one layer (or the whole pass)",
    "Allowed when cursor.next is `backward` (else 409). Computes delta[l] = "
    "∂L/∂z[l] (at the output from the loss, below it (delta[l+1] W[l+1]ᵀ) ⊙ "
    "f′(z[l])), grad_W[l] = a[l-1]ᵀ delta[l] (+ the regularization gradient) and "
    "grad_b[l] = Σ_n delta[l], and moves the cursor down one layer; after layer 1 "
    "the cursor is at update. `{\"through\": \"all\"}` finishes the pass.")


def _step_route(name: Literal["update", "step"], responses: Responses,
                summary: str, text: str) -> None:
    """The stepping routes that take no body: update, and step (whatever is next)."""

    @router.post(f"{SESSION}/{name}", response_model=schemas.SessionState,
                 responses=responses, tags=["stepping"], name=name, summary=summary,
                 description=state_doc(text))
    async def step_route(op: OperateDep) -> JSONResponse:
        return await op(commands.Update() if name == "update" else commands.Step())


_step_route(
    "update", {**ON_SESSION, **CURSOR}, "Apply the update",
    "Allowed when cursor.next is `update` (else 409). W ← W − η·grad_W for every "
    "layer (and b ← b − η·grad_b when train_bias), all from the gradients of this "
    "pass. The trace is cleared, iteration grows by one, and when the batch was "
    "the epoch's last the epoch grows by one and its loss joins the history. The "
    "cursor returns to forward, layer 1. Non-finite new weights are not applied "
    "(status diverged).")
_step_route(
    "step", ON_SESSION, "Do whatever step is next",
    "Allowed at any cursor: performs the single next step the cursor names (one "
    "forward layer, one backward layer, or the update), so calling it repeatedly "
    "walks through the lesson.")


@router.post(f"{SESSION}/train", response_model=schemas.TrainState, responses=WITH_BODY,
             tags=["stepping"], summary="Train whole epochs",
             description=state_doc(
                 "Allowed at any cursor. Runs until `epochs` more epochs have finished (an "
                 "epoch already partly stepped through counts as the first), on the session's "
                 "kernel (config.kernel: numpy is exactly the arithmetic of stepping). Stops "
                 "early when a step diverges or after train_time_budget seconds (2 s), between "
                 "mini-batches (possibly inside an epoch, which the next call finishes first); "
                 "`ran`, `stopped` and `remaining` say what happened: call again to go on. With "
                 "`target_epoch` instead of `epochs` it trains until the session's epoch is that "
                 "(repeat the same call until `remaining` is 0). Leaves the cursor at forward, "
                 "layer 1, with no trace. 503 with Retry-After when the session's compiled "
                 "kernel is still being compiled by this worker (setting kernel_wait)."))
async def train(session_id: SessionId, door: DoorDep, settings: SettingsDep,
                body: Annotated[schemas.TrainRequest, Body(
                    openapi_examples=schemas.TRAIN_EXAMPLES)] = schemas.ONE_EPOCH,
                samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    epochs, target = body.epochs, body.target_epoch
    if target is not None and "epochs" in body.model_fields_set:
        raise ConfigError(("target_epoch",), "give epochs or target_epoch, not both")
    service.check_epochs(epochs, settings)  # before the lock: a bad body is 422 even on a 404 id
    points = history_points(history, settings)

    def view(s: Session, o: Outcome[Trained | Unchanged]) -> JSONResponse:
        ran, stopped = o.result if isinstance(o.result, tuple) else (0, None)
        remaining = (epochs - ran) if target is None else max(0, target - s.trainer.epoch)
        return respond({**render(s, settings, samples, points), "ran": ran,
                        "stopped": stopped, "remaining": remaining})

    command = commands.Train(epochs) if target is None else commands.TrainTo(target)
    return await door.apply(
        session_id, command, view=view, before=prechecked(settings, samples, points),
        cost=lambda s: session_state_cost(s, samples, points, settings.trace_default_max))


@_change("PUT", f"{SESSION}/weights", "Set every weight")
async def put_weights(body: schemas.WeightsRequest, op: OperateDep) -> JSONResponse:
    """Replaces every layer's W (and b, when the network has biases) at once; shapes must match
    the layers and every value lie within ±max_abs_value (10⁶). Allowed at any cursor: the
    current pass is discarded (cursor → forward, layer 1); epoch, iteration and history
    stay."""
    return await op(commands.SetWeights([LayerDoc(W=w.W, b=w.b) for w in body.layers]))


@_change("POST", f"{SESSION}/points", "Add a point to the training data")
async def add_point(body: Annotated[schemas.PointRequest,
                                    Body(openapi_examples=schemas.POINT_EXAMPLES)],
                    op: OperateDep) -> JSONResponse:
    """Appends the sample (x1, x2) → y to a 2-D data set's training split (stored in
    config.dataset.extra, so export, import, reset and links rebuild the same data; at most
    max_added_points per session). Allowed at any cursor: the weights stay, the pass in
    progress restarts at forward, layer 1. Undoable."""
    return await op(commands.AddPoint(body.x1, body.x2, body.y))


@_change("POST", f"{SESSION}/reset", "Start over")
async def reset(op: OperateDep, config: Annotated[schemas.SessionConfig, Body(
                    openapi_examples=schemas.RESET_EXAMPLES)] = schemas.DEFAULT_CONFIG,
                ) -> JSONResponse:
    """Allowed at any cursor. Re-initialises the session in place (same id): epoch 0, the
    initial weights, empty history. With no body or an empty object the config stays; with a
    config (as for POST /sessions) the session takes it."""
    return await op(commands.Reset(normalize(config, op.settings) if config.model_fields_set
                                   else None))


@router.get(f"{SESSION}/gradcheck", response_model=schemas.Gradcheck, responses=ON_SESSION,
            tags=["checks"], summary="Check the gradients numerically",
            description="Compares backprop's grad_W and grad_b on the current batch with "
            "central finite differences (L(w + ε) − L(w − ε)) / 2ε, one parameter at a time. "
            "Allowed at any cursor; changes nothing. Refused (422) when it would need more "
            "than gradcheck_max_work sample-forward passes or run past gradcheck_time_budget "
            "seconds; stops when the client disconnects. `max_rel_error` is |g − ĝ| / "
            "max(|g| + |ĝ|, 1e-6).")
async def gradcheck(request: Request, session_id: SessionId, door: DoorDep,
                    epsilon: Annotated[float, Query(
                        ge=1e-10, le=0.1, allow_inf_nan=False,
                        description="the finite-difference step ε")] = 1e-6
                    ) -> GradcheckReport:
    gone = threading.Event()  # set when the client disconnects: the check stops early

    async def watch() -> None:
        while not await request.is_disconnected():
            await asyncio.sleep(0.2)
        gone.set()

    watcher = asyncio.create_task(watch())
    try:
        with errors.query_fields():  # epsilon, and the work it asks for
            return await door.apply(session_id, commands.GradCheck(epsilon, gone.is_set))
    finally:
        watcher.cancel()


@router.get(f"{SESSION}/export", response_model=schemas.ExportDocument, responses=ON_SESSION,
            tags=["sessions"], summary="Export a session",
            description="A JSON document with the config, the exact current weights, epoch, "
            "iteration, the whole stored history and the state of a partly done epoch: POST "
            "it to /api/v1/sessions/import to continue elsewhere, bit for bit. The unfinished "
            "pass (trace) is not exported. Allowed at any cursor; changes nothing.")
async def export_session(session_id: SessionId, door: DoorDep) -> ExportDoc:
    return await door.apply(session_id, commands.Export(),
                            cost=lambda s: session_state_cost(s, None, None, 0))


@router.post("/sessions/import", status_code=201, response_model=schemas.SessionState,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/ExportDocument"}}}}},
             responses={**UNAVAILABLE, **BODY_ERRORS, **INVALID, **CREATION}, tags=["sessions"],
             summary="Import a session",
             description=state_doc("Creates a new session (new id, Location header) from a "
                             "document made by GET …/export. Its cursor starts at forward, "
                             "layer 1."))
async def import_session(request: Request, door: DoorDep, settings: SettingsDep,
                         samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    points = history_points(history, settings)
    # Up to max_import_bytes of JSON: never parsed on the event loop (app/api/bodies.py).
    doc = await bodies.parse_big(schemas.ExportDocument, await request.body(),
                                 settings.import_precheck_bytes)
    # (its creation was counted before the body was read: app/main.py)
    sid, state = await door.create(Import(doc.model_dump()),
                                   admit=partial(check_creation, request),
                                   view=lambda s: render(s, settings, samples, points))
    return respond(state, 201, {"Location": location_of(request, settings, sid)})


router.include_router(catalogues.router)
