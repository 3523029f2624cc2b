"""The /api/v1 routes: thin wrappers around app.sessions.service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api import schemas
from app.config import Settings
from app.nn import datasets
from app.sessions import data_edits, service
from app.sessions.config import GENERATED_DEFAULTS, PRESETS, SessionConfig, normalize
from app.sessions.model import Session
from app.sessions.state import session_state
from app.sessions.store import SessionNotFound, SessionStore

router = APIRouter(prefix="/api/v1", tags=["sessions"])


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
CURSOR = _documented(409, "the cursor is not at this step", schemas.CursorConflict)
ON_SESSION = {**NOT_FOUND, **UNAVAILABLE}
WITH_BODY = {**NOT_FOUND, **UNAVAILABLE, **BODY_ERRORS}


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_store(request: Request) -> SessionStore:
    return request.app.state.store  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
SamplesQ = Annotated[str | None, Query(
    description="'all' or comma-separated positions in the batch; default all when the batch "
    "has ≤ 32 samples, else the focus sample", max_length=20000)]
HistoryQ = Annotated[int | None, Query(ge=1, description="at most N history points, evenly "
                                       "decimated, first and last kept")]


def render(s: Session, settings: Settings, samples: str | None, history: int | None
           ) -> dict[str, Any]:
    return session_state(s, samples=samples, history=history,
                         default_max=settings.trace_default_max)


def respond(content: dict[str, Any], status_code: int = 200,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """The state as JSON, skipping FastAPI's re-validation against the response model: the
    state is built from plain Python values (every float finite, checked by the engine) and
    the tests validate it against the schema. JSONResponse refuses NaN (allow_nan=False), so a
    bug could never put one on the wire."""
    return JSONResponse(content, status_code=status_code, headers=headers)


async def operate(
    store: SessionStore, settings: Settings, sid: str, op: Callable[[Session], Any],
    samples: str | None, history: int | None, write: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """Under the session's lock and off the event loop: one operation, then the state.
    ``write=False``: the operation changes nothing (the store need not save it)."""
    async with store.use(sid, write=write) as s:
        def work() -> tuple[Any, dict[str, Any]]:
            result = op(s)
            return result, render(s, settings, samples, history)

        return await run_in_threadpool(work)


@router.post("/sessions", status_code=201, response_model=schemas.SessionState,
             responses={**UNAVAILABLE, **BODY_ERRORS},
             summary="Create a session")
async def create_session(
    request: Request, response: Response, store: StoreDep, settings: SettingsDep,
    config: Annotated[SessionConfig | None, Body(
        description="every field optional; a preset supplies defaults")] = None,
    samples: SamplesQ = None, history: HistoryQ = None,
) -> JSONResponse:
    cfg = config or SessionConfig()
    normalized = normalize(cfg, settings)
    session = await run_in_threadpool(Session.create, normalized, settings)
    state = render(session, settings, samples, history)
    await store.add(session)
    location = str(request.url_for("get_session", session_id=session.id))
    return respond(state, 201, {"Location": location})


@router.get("/sessions/{session_id}", response_model=schemas.SessionState,
            responses=ON_SESSION)
async def get_session(session_id: str, store: StoreDep, settings: SettingsDep,
                      samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    return respond((await operate(store, settings, session_id, lambda s: None, samples, history,
                          write=False))[1])


@router.patch("/sessions/{session_id}", response_model=schemas.SessionState,
              responses=WITH_BODY)
async def patch_session(session_id: str, body: schemas.PatchRequest, store: StoreDep,
                        settings: SettingsDep, samples: SamplesQ = None,
                        history: HistoryQ = None) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True)
    return respond((await operate(store, settings, session_id,
                          lambda s: service.patch(s, changes, settings), samples, history))[1])


@router.delete("/sessions/{session_id}", status_code=204, response_class=Response,
               responses=ON_SESSION)
async def delete_session(session_id: str, store: StoreDep) -> Response:
    if not await store.delete(session_id):
        raise SessionNotFound(session_id)
    return Response(status_code=204)


@router.post("/sessions/{session_id}/forward", response_model=schemas.SessionState,
             responses={**WITH_BODY, **CURSOR})
async def forward(session_id: str, store: StoreDep, settings: SettingsDep,
                  body: Annotated[schemas.Through | None, Body()] = None,
                  samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    through = body is not None and body.through == "all"
    return respond((await operate(store, settings, session_id,
                          lambda s: service.forward(s, through), samples, history))[1])


@router.post("/sessions/{session_id}/backward", response_model=schemas.SessionState,
             responses={**WITH_BODY, **CURSOR})
async def backward(session_id: str, store: StoreDep, settings: SettingsDep,
                   body: Annotated[schemas.Through | None, Body()] = None,
                   samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    through = body is not None and body.through == "all"
    return respond((await operate(store, settings, session_id,
                          lambda s: service.backward(s, through), samples, history))[1])


@router.post("/sessions/{session_id}/update", response_model=schemas.SessionState,
             responses={**ON_SESSION, **CURSOR})
async def update(session_id: str, store: StoreDep, settings: SettingsDep,
                 samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    return respond(
        (await operate(store, settings, session_id, service.update, samples, history))[1])


@router.post("/sessions/{session_id}/step", response_model=schemas.SessionState,
             responses=ON_SESSION)
async def step(session_id: str, store: StoreDep, settings: SettingsDep,
               samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    return respond((await operate(store, settings, session_id, service.step, samples, history))[1])


@router.post("/sessions/{session_id}/train", response_model=schemas.TrainState,
             responses=WITH_BODY)
async def train(session_id: str, store: StoreDep, settings: SettingsDep,
                body: Annotated[schemas.TrainRequest | None, Body()] = None,
                samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    epochs = (body or schemas.TrainRequest()).epochs
    service.check_epochs(epochs, settings)  # before the lock: a bad body is 422 even on a 404 id
    (ran, stopped), state = await operate(
        store, settings, session_id, lambda s: service.train(s, epochs, settings), samples,
        history)
    return respond({**state, "ran": ran, "stopped": stopped})


@router.put("/sessions/{session_id}/weights", response_model=schemas.SessionState,
            responses=WITH_BODY)
async def put_weights(session_id: str, body: schemas.WeightsRequest, store: StoreDep,
                      settings: SettingsDep, samples: SamplesQ = None,
                      history: HistoryQ = None) -> JSONResponse:
    layers = [w.model_dump() for w in body.layers]
    return respond((await operate(store, settings, session_id,
                          lambda s: service.set_weights(s, layers, settings), samples,
                          history))[1])


@router.post("/sessions/{session_id}/points", response_model=schemas.SessionState,
             responses=WITH_BODY, summary="Add a point to the training data")
async def add_point(session_id: str, body: schemas.PointRequest, store: StoreDep,
                    settings: SettingsDep, samples: SamplesQ = None,
                    history: HistoryQ = None) -> JSONResponse:
    """Appends (x1, x2) → y to the training data (config.dataset.extra); the weights stay and
    the pass in progress restarts."""
    return respond((await operate(
        store, settings, session_id,
        lambda s: data_edits.add_point(s, body.x1, body.x2, body.y, settings),
        samples, history))[1])


@router.post("/sessions/{session_id}/reset", response_model=schemas.SessionState,
             responses=WITH_BODY)
async def reset(session_id: str, store: StoreDep, settings: SettingsDep,
                config: Annotated[SessionConfig | None, Body()] = None,
                samples: SamplesQ = None, history: HistoryQ = None) -> JSONResponse:
    normalized = None if config is None else normalize(config, settings)
    return respond((await operate(store, settings, session_id,
                          lambda s: service.reset(s, normalized, settings), samples,
                          history))[1])


@router.get("/sessions/{session_id}/gradcheck", response_model=schemas.Gradcheck,
            responses=ON_SESSION)
async def gradcheck(session_id: str, store: StoreDep, settings: SettingsDep,
                    epsilon: Annotated[float, Query(ge=1e-10, le=0.1, allow_inf_nan=False)] = 1e-6
                    ) -> dict[str, Any]:
    result, _ = await operate(store, settings, session_id,
                              lambda s: service.gradcheck(s, epsilon, settings), None, 1,
                              write=False)
    return result  # type: ignore[no-any-return]


@router.get("/sessions/{session_id}/export", response_model=schemas.ExportDocument,
            responses=ON_SESSION)
async def export(session_id: str, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    result, _ = await operate(store, settings, session_id, service.export, None, 1,
                              write=False)
    return result  # type: ignore[no-any-return]


@router.post("/sessions/import", status_code=201, response_model=schemas.SessionState,
             responses={**UNAVAILABLE, **BODY_ERRORS})
async def import_session(request: Request, response: Response, doc: schemas.ExportDocument,
                         store: StoreDep, settings: SettingsDep, samples: SamplesQ = None,
                         history: HistoryQ = None) -> JSONResponse:
    session = await run_in_threadpool(service.import_session, doc.model_dump(), settings)
    state = render(session, settings, samples, history)
    await store.add(session)
    location = str(request.url_for("get_session", session_id=session.id))
    return respond(state, 201, {"Location": location})


@router.get("/presets", response_model=list[schemas.Preset], tags=["catalogues"])
async def presets() -> list[dict[str, Any]]:
    return [{"name": name, "description": p["description"], "config": p["config"]}
            for name, p in PRESETS.items()]


DATASET_DESCRIPTIONS = {
    "xor": "the lesson's XOR truth table, rows (0,0) (0,1) (1,0) (1,1)",
    "and": "AND truth table", "or": "OR truth table",
    "circle": "points inside (1) or outside (0) a circle",
    "xor_scatter": "points labelled by the sign of x₁·x₂",
    "gauss": "two Gaussian clusters", "spiral": "two interleaved spirals",
    "plane": "regression of a tilted plane, targets in [0, 1]",
    "multi_gauss": "regression of a sum of Gaussian bumps, targets in [0, 1]",
}


@router.get("/datasets", response_model=list[schemas.DatasetInfo], tags=["catalogues"])
async def list_datasets() -> list[dict[str, Any]]:
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
