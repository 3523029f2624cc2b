"""The OpenAPI document as a manual, and /docs and /redoc served with no network.

One module: the manual's texts, its engine-made examples and the two offline doc pages
are one document, built together when the schema is first asked for.

Operation ids are the route functions' names (``forward``, ``create_session``) so generated
clients read as a person would write them. Every reply example is made by the engine itself on
the lesson's network when the schema is first asked for, so an example can never show a
number the server would not give. The Swagger UI and ReDoc bundles come from the
``fastapi-offline`` package; the pages here load them without any inline script, so they run
under the same Content-Security-Policy as the app's own pages.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from app.config import Settings
from app.nn import choices

# The summary sentence ("Step through backpropagation, …") is the app's ``summary``: /docs and
# /redoc show it above this description, so it is not repeated here.
DESCRIPTION = """\
Create a session (a small fully connected NumPy network with its data), then step the forward
pass, the backward pass and the update one layer at a time — or train whole epochs — and read
activations, deltas, gradients, the loss and its history from each reply.

The complete contract (conventions, every endpoint, field, status code and limit) is
`docs/api.md` in the repository.
"""

TAGS = [
    {"name": "sessions", "description": "Create, read, change, reset, export, import and "
     "delete sessions."},
    {"name": "stepping", "description": "Move the cursor: forward, backward, update, step, "
     "train. Each reply is the new state."},
    {"name": "checks", "description": "Verify backprop's gradients against finite "
     "differences."},
    {"name": "catalogues", "description": "The presets and data sets a config may name."},
    {"name": "teaching", "description": "Undo and redo, watch links to follow a session "
     "read-only (live over Server-Sent Events), and links that recreate a setup."},
    {"name": "polls", "description": "Class polls: the class predicts the next value (through "
     "the watch link), the teacher reveals it (docs/polls.md)."},
    {"name": "health", "description": "Whether the server and its store are up."},
]

# Fields of the config models (app/sessions/config.py) that carry no description there.
FIELD_DOCS: dict[str, dict[str, str]] = {
    "SessionConfig": {
        "hidden_activation": "f of the hidden layers: " + ", ".join(choices.HIDDEN_ACTIVATIONS),
        "output_activation": "f of the output layer: the hidden ones or softmax",
        "loss": "per-sample loss: squared_error ½Σ(ŷ−y)², binary_cross_entropy (sigmoid "
        "output), cross_entropy (softmax output)",
        "reduction": "sum or mean of the per-sample losses over the batch",
        "init": "how the initial weights are drawn (ignored with explicit weights)",
        "dataset": "a built-in data set by name, or your own X and Y",
        "regularization": "l2 (½·rate·Σ‖W‖²) or l1 (rate·Σ|W|) on the weights, never biases",
    },
    "DatasetConfig": {
        "X_test": "inline test inputs (optional), one sample per row",
        "Y_test": "inline test targets, one sample per row (with X_test)",
    },
    "RegularizationConfig": {
        "kind": "none, l1 or l2",
        "rate": "λ, at most max_regularization_rate",
    },
}
SCHEMA_DOCS = {
    "SessionConfig": "A network and its data. Every field is optional: a preset supplies "
    "defaults and the fields beside it override them.",
    "DatasetConfig": "The data: a built-in set by name (with its generator parameters) or "
    "inline X and Y.",
    "InitConfig": "How the initial weights are drawn: numpy.random.RandomState(seed), layer "
    "by layer.",
    "LayerWeights": "One layer's parameters.",
    "RegularizationConfig": "A penalty on the weights.",
}


def operation_id(route: APIRoute) -> str:
    return route.name


def _examples(settings: Settings) -> dict[str, Any]:
    """Replies of the lesson's network (preset seed-xor), made by the code that serves them."""
    from app.api.catalogues import list_datasets_data, presets_data
    from app.sessions import data_edits, service
    from app.sessions.config import SessionConfig, normalize
    from app.sessions.model import Session
    from app.sessions.state import session_state

    config = normalize(SessionConfig(preset="seed-xor"), settings)

    def fresh() -> Session:
        return Session.create(config, settings, id="3q2-7wEjbD4pHVwWQbQ6VA")

    def state(s: Session) -> dict[str, Any]:
        st = session_state(s, history=3, default_max=settings.trace_default_max)
        return {**st, "config": s.config.to_dict()}

    out: dict[str, Any] = {}
    s = fresh()
    out["create_session"] = out["get_session"] = out["reset"] = state(s)
    out["import_session"] = out["put_weights"] = state(s)
    service.forward(s)
    out["forward"] = out["step"] = state(s)
    service.forward(s)
    service.backward(s)
    out["backward"] = state(s)
    service.backward(s)
    service.update(s)
    out["update"] = state(s)
    s = fresh()
    service.patch(s, {"learning_rate": 0.5}, settings)
    out["patch_session"] = state(s)
    s = fresh()
    ran, stopped = service.train(s, 3, settings)
    out["train"] = {**state(s), "ran": ran, "stopped": stopped, "remaining": 3 - ran}
    out["export_session"] = service.export(s)
    s = fresh()
    data_edits.add_point(s, 0.5, 0.5, 0.0, settings)
    out["add_point"] = state(s)
    out["gradcheck"] = service.gradcheck(s, 1e-6, settings)
    out["list_presets"] = presets_data()[:1]
    out["list_datasets"] = list_datasets_data()[:2]
    out["healthz"] = {"status": "ok", "store": "memory", "sessions": 3, "kernel": "numba"}
    _teaching_examples(out, fresh, state, settings)
    lesson_weights = [{"W": W.tolist()} for W in fresh().trainer.net.W]
    out["request:put_weights"] = {"lesson": {"summary": "the lesson's initial weights "
                                             "(no biases)", "value": {"layers": lesson_weights}}}
    out["request:import_session"] = {"export": {"summary": "a document from GET …/export",
                                                "value": out["export_session"]}}
    out["request:patch_session"] = {
        "learning-rate": {"summary": "a larger step", "value": {"learning_rate": 0.5}},
        "mini-batch": {"summary": "mini-batches of 2 with weight decay",
                       "value": {"batch_size": 2,
                                 "regularization": {"kind": "l2", "rate": 0.001}}},
        "adam": {"summary": "train on with Adam (the weights stay, its state starts at t = 0)",
                 "value": {"optimizer": {"name": "adam", "beta1": 0.9, "beta2": 0.999,
                                         "eps": 1e-8}}},
    }
    return out


WATCH_ID = "Yd0x5m7bQ0K2pXh4sT9wZg"


def _teaching_examples(out: dict[str, Any], fresh: Callable[[], Any],
                       state: Callable[[Any], dict[str, Any]], settings: Settings) -> None:
    """Undo, redo, watch and link replies, made as the door makes them (restore point,
    version), on the lesson's network."""
    from app.sessions import links, undo
    from app.sessions.commands import Command, Forward, Redo, Undo
    from app.sessions.door import summary

    def apply(s: Any, command: Command[Any]) -> None:
        point = undo.capture(s) if command.kind == "change" else None
        step_label = command.label(s)
        command.run(s, settings)
        if point is not None:
            s.undo.push(undo.point_after(s, point, step_label), settings.undo_depth,
                        settings.undo_max_bytes)
        s.version += 1

    s = fresh()
    apply(s, Forward())
    apply(s, Undo())
    out["undo"] = state(s)
    apply(s, Redo())
    out["redo"] = state(s)
    out["watch_state"] = {**state(s), "id": WATCH_ID}
    out["watch_events"] = summary(s)
    out["watch"] = {"watch_id": WATCH_ID, "url": f"/w/{WATCH_ID}", "lan_urls": [
        f"http://192.168.1.23:8000/w/{WATCH_ID}"]}
    out["watch_state"]["poll"] = None
    out["setup_link"] = {"url": links.setup_url(s.config)}


RATE_LIMITED = {"detail": "too many new sessions from this address: the limit is 30 a minute "
                "(setting create_rate_limit)"}
# Error examples of one operation (the shared ones below fit most).
OPERATION_ERRORS: dict[str, dict[str, Any]] = {
    "create_session": {"429": RATE_LIMITED},
    "import_session": {"429": RATE_LIMITED},
    "undo": {"409": {"detail": "nothing to undo"}},
    "redo": {"409": {"detail": "nothing to redo"}},
    "setup_link": {"422": {"detail": [{"loc": ["body", "link"], "msg": "this setup needs a "
                                       "2431-character link; the limit is 2000 (inline data "
                                       "is too large for a link): download the lesson file "
                                       "(export) instead", "type": "value_error"}]}},
}
ERROR_EXAMPLES: dict[str, Any] = {
    "429": {"detail": "too many watch streams for this client: the limit is 20 (setting "
            "watch_max_per_client)"},
    "404": {"detail": "session not found: unknown, expired after its idle time, or evicted "
            "(least recently used) when the session cap was reached"},
    "409": {"detail": "the cursor is at backward, not forward", "cursor": "backward"},
    "413": {"detail": "request body too large: the limit is 1048576 bytes (setting "
            "max_body_bytes)"},
    "422": {"detail": [{"loc": ["body", "epochs"], "msg": "epochs must be 1 to 100000; got 0",
                        "type": "value_error"}]},
    "503": {"detail": "the session is busy; retry (setting lock_timeout)"},
    "400": {"detail": "There was an error parsing the body"},
}


RESPONSE_HEADERS: dict[str, Any] = {
    "201": {"Location": {"description": "the new session's URL (GET it for the state)",
                         "schema": {"type": "string"}}},
    "503": {"Retry-After": {"description": "seconds to wait before retrying",
                            "schema": {"type": "string"}}},
    "429": {"Retry-After": {"description": "seconds to wait before retrying",
                            "schema": {"type": "string"}}},
}
SSE_EXAMPLE = ('event: state\nid: 3\ndata: {"version": 3, "epoch": 0, "iteration": 0, '
               '"cursor": {"next": "forward", "layer": 2}, "loss": null}\n\n')


def _document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, summary=app.summary,
                       description=app.description, routes=app.routes, tags=TAGS)
    examples = _examples(settings)
    for operations in spec["paths"].values():
        for op in operations.values():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            request_examples = examples.get(f"request:{op['operationId']}")
            if body is not None and request_examples is not None:
                body.setdefault("examples", request_examples)
            for code, reply in op.get("responses", {}).items():
                if code in RESPONSE_HEADERS:
                    reply.setdefault("headers", RESPONSE_HEADERS[code])
                stream = reply.get("content", {}).get("text/event-stream")
                if stream is not None:
                    stream.setdefault("example", SSE_EXAMPLE)
                content = reply.get("content", {}).get("application/json")
                if content is None:
                    continue
                example = examples.get(op["operationId"]) if code.startswith("2") else \
                    OPERATION_ERRORS.get(op["operationId"], {}).get(code, ERROR_EXAMPLES.get(code))
                if example is not None:
                    content["example"] = example
            for param in op.get("parameters", []):
                if param["name"] == "history":  # parsed by the route; the cap is a setting
                    param["schema"]["anyOf"] = [
                        {"type": "integer", "minimum": 1,
                         "maximum": settings.history_max_points},
                        {"type": "string", "const": "all"}]
    schemas = spec.get("components", {}).get("schemas", {})
    for name, fields in FIELD_DOCS.items():
        for field, text in fields.items():
            schemas[name]["properties"][field].setdefault("description", text)
    for name, text in SCHEMA_DOCS.items():
        schemas[name].setdefault("description", text)
    return spec


# ---- /docs and /redoc --------------------------------------------------------------------
ASSETS = "/docs-assets"
SWAGGER_INIT = """\
window.ui = SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""
SWAGGER_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Backprop Lab API — Swagger UI</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/swagger-init.js"></script>
</body></html>
"""
REDOC_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Backprop Lab API — ReDoc</title>
<link rel="icon" href="/static/favicon.svg">
</head><body><redoc spec-url="/openapi.json"></redoc>
<script src="{ASSETS}/redoc.standalone.js"></script>
</body></html>
"""


# ReDoc writes two <style> elements no nonce can reach (one while its bundle loads): an empty
# one that styled-components fills through the CSSOM, and its fixed base CSS. Their hashes
# allow exactly those two, not inline style in general; tests/browser/test_api_docs.py fails
# if a new bundle brings other ones.
REDOC_STYLE_HASHES = ("'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
                      "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='")


def install(app: FastAPI, settings: Settings, csp: str) -> None:
    """Serve /openapi.json (with examples), /docs, /redoc and their assets from the package.
    The app must be created with docs_url=None and redoc_url=None."""
    redoc_csp = csp.replace("style-src 'self'", "style-src 'self' " + " ".join(REDOC_STYLE_HASHES))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(SWAGGER_PAGE)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(REDOC_PAGE, headers={"Content-Security-Policy": redoc_csp})

    @app.get(f"{ASSETS}/swagger-init.js", include_in_schema=False)
    async def swagger_init() -> Response:
        return Response(SWAGGER_INIT, media_type="text/javascript")

    bundles = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(bundles)), name="docs-assets")
