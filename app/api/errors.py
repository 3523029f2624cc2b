"""Error shapes: FastAPI's {"detail": …}, never echoing non-finite input back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import islice
from typing import Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import escape
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from typing_extensions import TypedDict

from app.nn.kernel_slot import KernelUnavailable, KernelWarming
from app.nn.stepper import CursorError
from app.sessions.budget import FormTooLarge, PageTooLarge
from app.sessions.config import ConfigError
from app.sessions.door import NothingToUndo
from app.sessions.events import WatchLimit
from app.sessions.limits import RateLimited
from app.sessions.state import StateQueryError
from app.sessions.store import (
    MemoryBudgetFull,
    SessionBusy,
    SessionNotFound,
    StoreFull,
    StoreUnavailable,
)

M = TypeVar("M", bound=BaseModel)
MAX_ERRORS = 50  # validation errors in one 422 reply (the rest are of the same kind)


def parse_body(model: type[M], body: bytes) -> M:
    """A JSON body as ``model``, with FastAPI's 422 (``loc`` under "body") when it is not one;
    for routes that parse a big body off the event loop themselves."""
    try:
        # As FastAPI does (its messages too): JSON first, then the model in Python mode.
        data = json.loads(body) if body else None
    except ValueError as e:
        raise RequestValidationError([{
            "type": "json_invalid", "loc": ("body", getattr(e, "pos", 0)),
            "msg": "JSON decode error", "input": {}, "ctx": {"error": str(e)[:200]}}]) from None
    except RecursionError:
        raise RequestValidationError([{
            "type": "json_invalid", "loc": ("body",), "msg": "JSON nested too deeply",
            "input": {}}]) from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        # The first MAX_ERRORS (a 700,000-item list of wrong items is as many errors), kept
        # without their input, here in the caller's thread rather than on the event loop.
        raise RequestValidationError([
            {"type": err["type"], "loc": ("body", *err["loc"]), "msg": err["msg"]}
            for err in islice(e.errors(include_url=False, include_input=False,
                                       include_context=False), MAX_ERRORS)
        ]) from None


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


Where = Literal["body", "query"]


class FieldErrorDetail(TypedDict):
    """One entry of a 422's detail (schemas.FieldError in the OpenAPI document)."""

    loc: list[str | int]
    msg: str
    type: str


def config_error_detail(e: ConfigError | StateQueryError, where: Where = "body"
                        ) -> list[FieldErrorDetail]:
    """FastAPI's 422 detail: the part of the request the field was in, then its path."""
    return [{"loc": [where, *e.path], "msg": e.msg, "type": "value_error"}]


class InQuery(Exception):
    """A ConfigError about a query parameter (see ``query_fields``)."""

    def __init__(self, error: ConfigError) -> None:
        super().__init__(error.msg)
        self.error = error


@contextmanager
def query_fields() -> Iterator[None]:
    """Around a route whose operation checks its query parameters: a ConfigError raised inside
    is a 422 under "query" (elsewhere the fields of a ConfigError are the body's)."""
    try:
        yield
    except ConfigError as e:
        raise InQuery(e) from None


def _clean(errors: Iterable[Mapping[str, object]]) -> list[FieldErrorDetail]:
    # Keep loc/msg/type only: "input" may hold NaN/inf (unserialisable) or a huge body.
    out: list[FieldErrorDetail] = []
    for err in islice(errors, MAX_ERRORS):
        loc = err.get("loc", ())
        out.append({
            "loc": [p if isinstance(p, (str, int)) else str(p)
                    for p in (loc if isinstance(loc, list | tuple) else ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "value_error")),
        })
    return out


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (Starlette's 405 names only the first
    route that matched the path, e.g. GET where GET, PATCH and DELETE are served)."""
    out = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            out.append(method)
    if "GET" in out and "HEAD" not in out:
        out.insert(out.index("GET") + 1, "HEAD")  # app.main.HeadAsGet answers HEAD as GET
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _clean(exc.errors())}, status_code=422)

    @app.exception_handler(ConfigError)
    async def _config(request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": config_error_detail(exc)}, status_code=422)

    @app.exception_handler(InQuery)
    async def _in_query(request: Request, exc: InQuery) -> JSONResponse:
        return JSONResponse({"detail": config_error_detail(exc.error, "query")},
                            status_code=422)

    @app.exception_handler(StateQueryError)  # samples and history: always query parameters
    async def _query(request: Request, exc: StateQueryError) -> JSONResponse:
        return JSONResponse({"detail": config_error_detail(exc, "query")}, status_code=422)

    @app.exception_handler(CursorError)
    async def _cursor(request: Request, exc: CursorError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "cursor": exc.phase}, status_code=409)

    @app.exception_handler(RateLimited)
    async def _rate(request: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(StoreFull)
    async def _full(request: Request, exc: StoreFull) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(NothingToUndo)
    async def _nothing(request: Request, exc: NothingToUndo) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(WatchLimit)
    async def _watch_limit(request: Request, exc: WatchLimit) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "10"})

    @app.exception_handler(SessionBusy)
    async def _busy(request: Request, exc: SessionBusy) -> JSONResponse:
        return JSONResponse({"detail": f"{exc}; retry (setting lock_timeout)"},
                            status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(KernelWarming)
    async def _warming(request: Request, exc: KernelWarming) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(KernelUnavailable)
    async def _no_kernel(request: Request, exc: KernelUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503,
                            headers={"Retry-After": "60"})

    @app.exception_handler(PageTooLarge)
    async def _page(request: Request, exc: PageTooLarge) -> HTMLResponse:
        text = escape(str(exc))
        return HTMLResponse(f'<!doctype html><html lang="en"><meta charset="utf-8"><title>413'
                            f'</title><main><h1>Too large to draw</h1><p>{text}</p>'
                            '<p><a href="/">Start another network</a></p></main></html>',
                            status_code=413)

    @app.exception_handler(FormTooLarge)
    async def _form(request: Request, exc: FormTooLarge) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(MemoryBudgetFull)
    async def _memory(request: Request, exc: MemoryBudgetFull) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(StoreUnavailable)
    async def _store(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(SessionNotFound)
    async def _missing(request: Request, exc: SessionNotFound) -> JSONResponse:
        return JSONResponse(
            {"detail": "session not found: unknown, expired after its idle time, or evicted "
             "(least recently used) when the session cap was reached"},
            status_code=404,
        )
