"""The /api/v1 routes: thin wrappers around app.sessions.service.

One module: the session routes share the documented error responses, the path and query
aliases and ``Operate``; the teaching routes are in teaching.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from app.api import bodies, errors, schemas
from app.config import Settings
from app.deps import DoorDep, HubDep, SettingsDep, StoreDep, check_creation
from app.nn import datasets
from app.sessions import service
from app.sessions.config import GENERATED_DEFAULTS, PRESETS, ConfigError, normalize
from app.sessions.door import Outcome, Unchanged
from app.sessions.model import Session
from app.sessions.render_budget import session_state_cost
from app.sessions.state import StateQueryError, precheck_reply, session_state
from app.sessions.store import SessionNotFound


class SessionIdConvertor(Convertor[str]):
    """A session id in a path: any segment but "import", so POST /sessions/import is its own
    route and GET/PATCH/DELETE there are 405 (Allow: POST), not a lookup of session "import"."""

    regex = "(?!import$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("session_id", SessionIdConvertor())
router = APIRouter(prefix="/api/v1")
SESSION = "/sessions/{session_id:session_id}"


def _documented(code: int, description: str, model: type[schemas.ErrorMessage]
                = schemas.ErrorMessage) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": model, "description": description}}


# The error responses each route can give, documented so clients (and schemathesis) know them.
NOT_FOUND = _documented(404, "unknown session, or expired after its idle time (session_ttl), "
                        "or evicted as least recently used (max_sessions)")
UNAVAILABLE = _documented(503, "the session stayed locked longer than lock_timeout, or the "
                          "session store is unreachable; retry (Retry-After)")
BODY_ERRORS = {**_documented(413, "request body over max_body_bytes"),
             **_documented(400, "the body could not be read as UTF-8 JSON")}
CURSOR = _documented(409, "the cursor is not at this step: the reply names where it is",
                     schemas.CursorConflict)
INVALID: dict[int | str, dict[str, Any]] = {422: {"model": schemas.ValidationErrorReply,
                 "description": "a field or query parameter is out of its limits; `loc` names "
                 "it and `msg` the limit"}}
CREATION = {**_documented(429, "more than create_rate_limit new sessions a minute from this "
                          "client address; retry after Retry-After seconds"),
            **_documented(503, "the session store is unreachable, or at max_sessions or "
                          "memory_budget every session that could be evicted was used within "
                          "active_window; retry after Retry-After seconds")}
ON_SESSION = {**NOT_FOUND, **UNAVAILABLE, **INVALID}
WITH_BODY = {**NOT_FOUND, **UNAVAILABLE, **BODY_ERRORS, **INVALID}


SessionId = Annotated[str, Path(
    description="the session's id, as returned by POST /api/v1/sessions (its `id` field and "
    "the end of its Location header)", examples=["3q2-7wEjbD4pHVwWQbQ6VA"])]
SamplesQ = Annotated[str | None, Query(
    description="which samples of the current batch the trace shows: 'all' or comma-separated "
    "positions in the batch (0-based); default all when the batch has at most "
    "trace_default_max (32) samples, else the focus sample", max_length=20000,
    examples=["all", "0,3"])]
# Parsed here (one clear 422 naming the setting); app/api/openapi.py documents it as an
# integer from 1 to history_max_points, or "all".
HistoryQ = Annotated[str | None, Query(max_length=12,
    description="how many loss-history points the reply carries: N (1 to history_max_points, "
    "100,000) evenly decimated with the first and last kept, or 'all'; default "
    "history_default_points (250). history_length always gives the true length.",
    examples=["all", "1", "2000"])]


def history_points(history: int | str | None, settings: Settings) -> int:
    """The number of history points a reply may carry (the query's N, 'all', or the default)."""
    if history is None:
        return settings.history_default_points
    if history == "all":
        return settings.history_max_points
    n = history if isinstance(history, int) else (
        int(history) if history.isascii() and history.isdecimal() else 0)
    if not 1 <= n <= settings.history_max_points:
        raise StateQueryError(("history",), "history must be 'all' or a number of points from 1 "
                              f"to {settings.history_max_points} (setting history_max_points); "
                              f"got {str(history)[:12]}")
    return n


def location_of(request: Request, settings: Settings, sid: str) -> str:
    """Relative (or under the configured public_base_url), never built from the Host header."""
    path = request.app.url_path_for("get_session", session_id=sid)
    return settings.public_base_url.rstrip("/") + str(path)


def render(s: Session, settings: Settings, samples: str | None, points: int) -> dict[str, Any]:
    state = session_state(s, samples=samples, history=points,
                          default_max=settings.trace_default_max,
                          max_bytes=settings.max_reply_bytes)
    return {**state, "config": s.config.to_dict()}  # the wire form, in its place


def prechecked(settings: Settings, samples: str | None, points: int
               ) -> Callable[[Session], None]:
    """Run before an operation, under its lock: a reply that would be refused as too large
    refuses the operation first, so it never half-applies."""
    def check(s: Session) -> None:
        precheck_reply(s, samples, points, settings.trace_default_max, settings.max_reply_bytes)
    return check


def respond(content: dict[str, Any], status_code: int = 200,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """The state as JSON, skipping FastAPI's re-validation against the response model: the
    state is built from plain Python values (every float finite, checked by the engine) and
    the tests validate it against the schema. JSONResponse refuses NaN (allow_nan=False), so a
    bug could never put one on the wire."""
    return JSONResponse(content, status_code=status_code, headers=headers)


class Operate:
    """A route's operation on the session in its path, as a dependency: ``await op("patch",
    changes)`` runs it through the door and answers the state, rendered under the same lock
    with the reply's query (``samples``, ``history``)."""

    def __init__(self, session_id: SessionId, door: DoorDep, settings: SettingsDep,
                 samples: SamplesQ = None, history: HistoryQ = None) -> None:
        self.sid, self.door, self.settings = session_id, door, settings
        self.samples, self.history = samples, history

    async def __call__(self, name: str, *args: Any) -> JSONResponse:
        settings, samples = self.settings, self.samples
        points = history_points(self.history, settings)  # a bad query is 422 before the lock

        def view(s: Session, _: Outcome[Any]) -> JSONResponse:
            return respond(render(s, settings, samples, points))  # its bytes, in the thread

        reply: JSONResponse = await self.door.apply(
            self.sid, name, *args, view=view, before=prechecked(settings, samples, points),
            cost=lambda s: session_state_cost(s, samples, points, settings.trace_default_max))
        return reply


OperateDep = Annotated[Operate, Depends()]


STATE_REPLY = ("Replies with the session's state: config, epoch, iteration, cursor, every "
               "layer's W and b, the trace of the current pass (z, a, delta, grad_W, grad_b for "
               "the samples chosen by `samples`), loss, metrics and the loss history (at most "
               "`history` points, 250 by default).")


def state_doc(text: str) -> str:
    return f"{text}\n\n{STATE_REPLY}"


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
    request: Request, store: StoreDep, settings: SettingsDep,
    config: Annotated[schemas.SessionConfig, Body(
        openapi_examples=schemas.CONFIG_EXAMPLES)] = schemas.DEFAULT_CONFIG,
    samples: SamplesQ = None, history: HistoryQ = None,
) -> JSONResponse:
    points = history_points(history, settings)
    await check_creation(request)
    normalized = normalize(config, settings)
    session = await run_in_threadpool(Session.create, normalized, settings)
    state = render(session, settings, samples, points)
    await store.add(session)
    location = location_of(request, settings, session.id)
    return respond(state, 201, {"Location": location})


@router.get(SESSION, response_model=schemas.SessionState, responses=ON_SESSION,
            tags=["sessions"], summary="Read a session",
            description=state_doc("Reads the session without changing it; allowed at any cursor."))
async def get_session(op: OperateDep) -> JSONResponse:
    return await op("state")


@_change("PATCH", SESSION, "Change hyperparameters")
async def patch_session(body: schemas.PatchRequest, op: OperateDep) -> JSONResponse:
    """Changes learning_rate, regularization, batch_size, focus or train_bias; only the fields
    sent change, weights and history stay. Allowed at any cursor: a change that affects the
    current pass (batch_size, regularization) restarts it at forward, layer 1; a diverged
    session becomes ok."""
    return await op("patch", body.model_dump(exclude_unset=True))


@router.delete(SESSION, status_code=204, response_class=Response,
               responses={**NOT_FOUND, **UNAVAILABLE, **INVALID}, tags=["sessions"],
               summary="Delete a session",
               description="Forgets the session at once (it would otherwise expire after "
               "session_ttl idle seconds). Replies 204 with no body; a second delete is 404.")
async def delete_session(session_id: SessionId, store: StoreDep, door: DoorDep,
                         hub: HubDep) -> Response:
    watch_id = await door.apply(session_id, "state", view=lambda s, _: s.watch_id)
    if not await store.delete(session_id):
        raise SessionNotFound(session_id)
    if watch_id is not None:  # its watchers' streams end
        await hub.revoke(watch_id, session_id)
    return Response(status_code=204)


def _pass_route(direction: Literal["forward", "backward"], summary: str, text: str) -> None:
    """The forward and backward routes: one layer, or the rest of the pass (``through``)."""

    @router.post(f"{SESSION}/{direction}", response_model=schemas.SessionState,
                 responses={**WITH_BODY, **CURSOR}, tags=["stepping"], name=direction,
                 summary=summary, description=state_doc(text))
    async def step_pass(op: OperateDep, body: Annotated[schemas.Through, Body(
                            openapi_examples=schemas.THROUGH_EXAMPLES)] = schemas.ONE_LAYER,
                        ) -> JSONResponse:
        return await op(direction, body.through == "all")


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


def _step_route(name: Literal["update", "step"], responses: dict[int | str, dict[str, Any]],
                summary: str, text: str) -> None:
    """The stepping routes that take no body: update, and step (whatever is next)."""

    @router.post(f"{SESSION}/{name}", response_model=schemas.SessionState,
                 responses=responses, tags=["stepping"], name=name, summary=summary,
                 description=state_doc(text))
    async def step_route(op: OperateDep) -> JSONResponse:
        return await op(name)


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

    def view(s: Session, o: Outcome[Any]) -> JSONResponse:
        ran, stopped = (0, None) if isinstance(o.result, Unchanged) else o.result
        remaining = (epochs - ran) if target is None else max(0, target - s.trainer.epoch)
        return respond({**render(s, settings, samples, points), "ran": ran,
                        "stopped": stopped, "remaining": remaining})

    op = ("train", epochs) if target is None else ("train_to", target)
    reply: JSONResponse = await door.apply(
        session_id, *op, view=view, before=prechecked(settings, samples, points),
        cost=lambda s: session_state_cost(s, samples, points, settings.trace_default_max))
    return reply


@_change("PUT", f"{SESSION}/weights", "Set every weight")
async def put_weights(body: schemas.WeightsRequest, op: OperateDep) -> JSONResponse:
    """Replaces every layer's W (and b, when the network has biases) at once; shapes must match
    the layers and every value lie within ±max_abs_value (10⁶). Allowed at any cursor: the
    current pass is discarded (cursor → forward, layer 1); epoch, iteration and history
    stay."""
    return await op("weights", [w.model_dump() for w in body.layers])


@_change("POST", f"{SESSION}/points", "Add a point to the training data")
async def add_point(body: Annotated[schemas.PointRequest,
                                    Body(openapi_examples=schemas.POINT_EXAMPLES)],
                    op: OperateDep) -> JSONResponse:
    """Appends the sample (x1, x2) → y to a 2-D data set's training split (stored in
    config.dataset.extra, so export, import, reset and links rebuild the same data; at most
    max_added_points per session). Allowed at any cursor: the weights stay, the pass in
    progress restarts at forward, layer 1. Undoable."""
    return await op("points", body.x1, body.x2, body.y)


@_change("POST", f"{SESSION}/reset", "Start over")
async def reset(op: OperateDep, config: Annotated[schemas.SessionConfig, Body(
                    openapi_examples=schemas.RESET_EXAMPLES)] = schemas.DEFAULT_CONFIG,
                ) -> JSONResponse:
    """Allowed at any cursor. Re-initialises the session in place (same id): epoch 0, the
    initial weights, empty history. With no body or an empty object the config stays; with a
    config (as for POST /sessions) the session takes it."""
    return await op("reset", normalize(config, op.settings) if config.model_fields_set
                    else None)


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
                    ) -> dict[str, Any]:
    gone = threading.Event()  # set when the client disconnects: the check stops early

    async def watch() -> None:
        while not await request.is_disconnected():
            await asyncio.sleep(0.2)
        gone.set()

    watcher = asyncio.create_task(watch())
    try:
        with errors.query_fields():  # epsilon, and the work it asks for
            return await door.apply(session_id, "gradcheck", epsilon, gone.is_set)
    finally:
        watcher.cancel()


@router.get(f"{SESSION}/export", response_model=schemas.ExportDocument, responses=ON_SESSION,
            tags=["sessions"], summary="Export a session",
            description="A JSON document with the config, the exact current weights, epoch, "
            "iteration, the whole stored history and the state of a partly done epoch: POST "
            "it to /api/v1/sessions/import to continue elsewhere, bit for bit. The unfinished "
            "pass (trace) is not exported. Allowed at any cursor; changes nothing.")
async def export_session(session_id: SessionId, door: DoorDep) -> dict[str, Any]:
    return await door.apply(session_id, "export",
                            cost=lambda s: session_state_cost(s, None, None, 0))


@router.post("/sessions/import", status_code=201, response_model=schemas.SessionState,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/ExportDocument"}}}}},
             responses={**UNAVAILABLE, **BODY_ERRORS, **INVALID, **CREATION}, tags=["sessions"],
             summary="Import a session",
             description=state_doc("Creates a new session (new id, Location header) from a "
                             "document made by GET …/export. Its cursor starts at forward, "
                             "layer 1."))
async def import_session(request: Request, store: StoreDep, settings: SettingsDep,
                         samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    points = history_points(history, settings)
    await check_creation(request)  # (counted before the body was read: app/main.py)
    # Up to max_import_bytes of JSON: never parsed on the event loop (app/api/bodies.py).
    doc = await bodies.parse_big(schemas.ExportDocument, await request.body(),
                                 settings.import_precheck_bytes)
    session = await run_in_threadpool(service.import_session, doc.model_dump(), settings)
    state = render(session, settings, samples, points)
    await store.add(session)
    location = location_of(request, settings, session.id)
    return respond(state, 201, {"Location": location})


def _catalogue(path: str, item: type[BaseModel], name: str, summary: str, text: str,
               data: Callable[[], list[dict[str, Any]]]) -> None:
    """A read-only list a config may name from (presets, data sets)."""

    async def catalogue() -> list[dict[str, Any]]:
        return data()

    router.get(path, response_model=list[item], tags=["catalogues"],  # type: ignore[valid-type]
               name=name, summary=summary, description=text)(catalogue)


def presets_data() -> list[dict[str, Any]]:
    return [{"name": name, "description": p["description"], "config": p["config"]}
            for name, p in PRESETS.items()]


_catalogue("/presets", schemas.Preset, "list_presets", "List the presets",
           "The named configs POST /sessions accepts as `preset`, each with its "
           "description and the complete config it stands for.", presets_data)


DATASET_DESCRIPTIONS = {
    "xor": "the lesson's XOR truth table, rows (0,0) (0,1) (1,0) (1,1)",
    "and": "AND truth table", "or": "OR truth table",
    "circle": "points inside (1) or outside (0) a circle",
    "xor_scatter": "points labelled by the sign of x₁·x₂",
    "gauss": "two Gaussian clusters", "spiral": "two interleaved spirals",
    "plane": "regression of a tilted plane, targets in [0, 1]",
    "multi_gauss": "regression of a sum of Gaussian bumps, targets in [0, 1]",
}


def list_datasets_data() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in datasets.NAMES:
        kind = ("truth_table" if name in datasets.TRUTH_TABLES else
                "classification" if name in datasets.CLASSIFICATION else "regression")
        params = {} if kind == "truth_table" else dict(GENERATED_DEFAULTS)
        out.append({"name": name, "kind": kind, "inputs": 2, "parameters": params,
                    "description": DATASET_DESCRIPTIONS[name]})
    out.append({"name": "inline", "kind": "inline", "inputs": None,
                "parameters": {"X": None, "Y": None, "X_test": None, "Y_test": None},
                "description": "your own data: X (N × layers[0]) and Y (N × layers[-1])"})
    return out


_catalogue("/datasets", schemas.DatasetInfo, "list_datasets", "List the data sets",
           "The built-in data sets a config may name in dataset.name, with their "
           "kind, input width and default parameters, plus `inline` (your own X and Y).",
           list_datasets_data)
