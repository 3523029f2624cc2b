"""The ASGI app: create_app(settings) wires the API, the pages, static files and the store."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.api import bodies, errors, polls, teaching
from app.api import openapi as api_docs
from app.api import routes as api_routes
from app.api.schemas import Health
from app.config import Settings, get_settings
from app.csrf import CrossSiteGuard
from app.deps import StoreDep
from app.fair_accept import listen_on_own_socket, share_accepts
from app.jsontypes import JSON, JSONObject
from app.nn import numba_kernel
from app.resources import STATIC
from app.sessions.door import Door
from app.sessions.events import make_hub
from app.sessions.limits import RateLimited, make_limiter
from app.sessions.poll_service import PollService
from app.sessions.poll_store import make_poll_store
from app.sessions.store import StoreUnavailable, make_store
from app.web import routes as web_routes

# Pages get a strict policy: no inline script or style, no eval, not framable.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
# /docs and /redoc (app/api/openapi.py) load only local scripts; ReDoc runs its search in a
# worker made from a blob.
DOCS_CSP = CSP + "; worker-src 'self' blob:"


def _security_headers(csp: str) -> tuple[tuple[bytes, bytes], ...]:
    """What SecurityHeaders adds to a response that does not set them itself (encoded once)."""
    return ((b"content-security-policy", csp.encode()),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"))


PAGE_HEADERS = _security_headers(CSP)
DOCS_HEADERS = _security_headers(DOCS_CSP)


class SecurityHeaders:
    """Adds the security headers to every response, and reads each request body before the
    app sees it: refused over the size limit (413, by Content-Length or while streaming), when
    it trickles in slower than the read timeout (408), or when a JSON object repeats a key
    (422: the standard parser would silently keep the last one). The import paths (IMPORT_PATHS)
    take up to ``max_import`` bytes: a long session's export document is larger than
    ``max_body``, and every export must import again."""

    IMPORT_PATHS = ("/api/v1/sessions/import", "/open")

    def __init__(self, app: ASGIApp, max_body: int, read_timeout: float = 5.0,
                 max_import: int | None = None, precheck: int = 0) -> None:
        self.app = app
        self.precheck = precheck
        self.max_body = max_body
        self.max_import = max(max_body, max_import or 0)
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = DOCS_HEADERS if path in ("/docs", "/redoc") else PAGE_HEADERS
        imports = scope.get("method") == "POST" and path in self.IMPORT_PATHS
        limit, setting = ((self.max_import, "max_import_bytes") if imports
                          else (self.max_body, "max_body_bytes"))

        async def send_with_headers(message: Message) -> None:
            # Only the start is touched: a stream's body messages (a Play frame each) go
            # straight through.
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k not in names]
                message["headers"] = headers
            await send(message)

        content_type = b""
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(send_with_headers, limit, setting)
                    return
            elif key == b"content-type":
                content_type = value.split(b";")[0].strip().lower()
        if imports and not await self._admit(scope, receive, send_with_headers):
            return
        chunks: list[bytes] = []
        received = 0
        try:
            async with asyncio.timeout(self.read_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":  # the client went away
                        return
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if received > limit:
                        await self._reject(send_with_headers, limit, setting)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await self._error(send_with_headers, 408, (
                f"request body too slow: send it within {self.read_timeout:g} s (setting "
                "body_read_timeout)").encode(), close=True)
            return
        body = b"".join(chunks)
        # A big body is parsed in a thread: an 11 MB import took the event loop ~1 s.
        # An import this big is checked (repeated keys included) in a separate process by its
        # route (app/api/bodies.py): parsing keeps the GIL, a thread would stall us as much.
        deferred = imports and self.precheck and len(body) >= self.precheck
        repeats = False
        if body and content_type.endswith(b"json") and not deferred:
            repeats = (await asyncio.to_thread(_repeats_a_key, body) if len(body) > OFFLOAD
                       else _repeats_a_key(body))
        if repeats:
            await self._error(send_with_headers, 422, json.dumps({"detail": [{
                "loc": ["body"], "type": "value_error",
                "msg": "a JSON object repeats a key: give each key once"}]}).encode())
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then only http.disconnect

        await self.app(scope, replay, send_with_headers)

    @staticmethod
    async def _admit(scope: Scope, receive: Receive, send: Send) -> bool:
        """An import creates a session: the creation limit is checked before its body (up to
        max_import_bytes) is read and parsed, and the route does not count it again."""
        app = scope.get("app")
        limiter = getattr(getattr(app, "state", None), "limiter", None)
        if limiter is None:
            return True
        client = scope.get("client")
        try:
            await limiter.check(client[0] if client else "unknown")
        except RateLimited as e:
            if scope.get("path", "").startswith("/api/"):
                response: Response = JSONResponse(
                    {"detail": str(e)}, status_code=429,
                    headers={"Retry-After": str(e.retry_after), "Connection": "close"})
            else:
                from app.web.routes.landing import refused

                response = refused(Request(scope), app.state.settings, e)  # type: ignore[union-attr]
                response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return False
        except StoreUnavailable as e:
            await SecurityHeaders._error(send, 503, json.dumps({"detail": str(e)}).encode(),
                                         close=True)
            return False
        scope.setdefault("state", {})["creation_checked"] = True
        return True

    async def _reject(self, send: Send, limit: int, setting: str) -> None:
        await self._error(send, 413, b'{"detail":"request body too large: the limit is %d '
                          b'bytes (setting %s)"}' % (limit, setting.encode()), close=True)

    @staticmethod
    async def _error(send: Send, status: int, body: bytes, close: bool = False) -> None:
        if not body.startswith(b"{"):
            body = json.dumps({"detail": body.decode()}).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        if close:  # the rest of the body is not read: the connection cannot be reused
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


OFFLOAD = 64 * 1024  # bytes of a JSON body checked in a worker thread rather than on the loop


class _RepeatedKey(ValueError):
    pass


class HeadAsGet:
    """HEAD is answered wherever GET is: the GET response's status and headers (its
    Content-Length included), without the body. FastAPI routes do not add HEAD themselves.
    A response without Content-Length (an event stream, which never ends) is answered as soon
    as its headers are known, and the GET behind it is cancelled (issue #23: HEAD on a stream
    never finished and wedged the connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        done = asyncio.Event()

        async def send_headers_only(message: Message) -> None:
            if done.is_set():
                return  # (a stream's headers were answered: nothing more is sent)
            if message["type"] == "http.response.start":
                await send(message)
                if not any(k.lower() == b"content-length" for k, _ in message["headers"]):
                    done.set()  # a stream: its body would never end
                    await send({"type": "http.response.body", "body": b""})
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                await send({"type": "http.response.body", "body": b""})

        get = asyncio.ensure_future(self.app({**scope, "method": "GET"}, receive,
                                             send_headers_only))
        waiter = asyncio.ensure_future(done.wait())
        try:
            await asyncio.wait({get, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not get.done():  # the stream's generator: stop it, which frees its slot
            get.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await get
            return
        get.result()  # (its errors are the GET's)


def _no_repeats(pairs: list[tuple[str, JSON]]) -> JSONObject:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _RepeatedKey
    return out


def _repeats_a_key(body: bytes) -> bool:
    """Whether some object in this JSON repeats a key (invalid JSON: False, the app's parser
    answers it with its own 400/422)."""
    if b'"' not in body:
        return False
    try:
        json.loads(body, object_pairs_hook=_no_repeats)
    except _RepeatedKey:
        return True
    except (ValueError, RecursionError):
        return False
    return False


GC_YOUNG = 5000  # allocations between two young-generation collections (Python's: 700)


class _startup:  # a namespace for one process-wide flag
    frozen = False  # start-up objects frozen out of the collector's walks (once per process)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = make_store(settings)
        await store.open()
        app.state.store = store
        hub = make_hub(store, settings)
        await hub.open()
        app.state.door = Door(store, settings, hub)
        app.state.polls = PollService(app.state.door, make_poll_store(
            settings, store.redis if store.name == "redis" else None))  # type: ignore[attr-defined]
        app.state.limiter = make_limiter(store, settings)
        # The kernel setting acts through each new session's config (kernel_slot.session_default
        # in normalize), not through the process-wide default, which several apps in one
        # process (tests) would overwrite for one another.
        # How long a thread may keep the GIL while another waits for it (the setting's default
        # is Python's own 5 ms: 1 ms made a class cost ~10 % more CPU per tick).
        switch = sys.getswitchinterval()
        sys.setswitchinterval(settings.gil_switch_interval)
        # Before uvicorn starts serving: new connections shared between the workers.
        share_accepts(asyncio.get_running_loop(), settings.accept_batch)
        listen_on_own_socket(asyncio.get_running_loop())
        # Compile (or load from numba's cache) off the event loop; "auto" uses NumPy meanwhile.
        warm = (asyncio.create_task(asyncio.to_thread(numba_kernel.warm))
                if settings.kernel != "numpy" and numba_kernel.available() else None)
        # What start-up made (modules, templates, tables) lives as long as the process:
        # frozen, the collector stops walking it at every full collection. A Play frame
        # allocates tens of thousands of short-lived objects (freed by reference counting):
        # at the default 700 allocations per young collection the collector took ~0.3 ms of
        # every tick, at GC_YOUNG ~0.07 ms (benchmarks/tick_cost.py, docs/performance.md).
        # Once per process: a server has one app, but a process that makes many (the test
        # suite: one per test) paid a full collection of its whole heap at every start.
        thresholds = gc.get_threshold()
        if not _startup.frozen:
            gc.collect()
            gc.freeze()
            _startup.frozen = True
        gc.set_threshold(GC_YOUNG, *thresholds[1:])
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            await app.state.polls.close()
            await hub.close()
            bodies.shutdown()
            if warm is not None:
                await warm  # a thread cannot be cancelled; compiling ends on its own
            await store.close()
            sys.setswitchinterval(switch)

    app = FastAPI(
        title="Backprop Lab",
        version=__version__,
        summary="Step through backpropagation, layer by layer, with every number exact.",
        description=api_docs.DESCRIPTION,
        openapi_tags=api_docs.TAGS,
        generate_unique_id_function=api_docs.operation_id,
        docs_url=None, redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    app.include_router(api_routes.router)
    app.include_router(teaching.router)
    app.include_router(polls.router)
    api_docs.install(app, settings, DOCS_CSP)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Health check",
             description="Whether the server answers and its session store is reachable, "
             "and how many sessions it holds. 200 even when degraded (read `status`).")
    async def healthz(store: StoreDep) -> dict[str, object]:
        ok = await store.ping()
        return {"status": "ok" if ok else "degraded", "store": store.name,
                "sessions": await store.count() if ok else None,
                "kernel": "numba" if numba_kernel.ready() else "numpy"}

    web_routes.install(app)
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Inside SecurityHeaders (its refusals carry the same headers), after the body limits.
    app.add_middleware(CrossSiteGuard, trusted=[
        settings.public_base_url, *settings.csrf_trusted_origins.split(",")])
    app.add_middleware(SecurityHeaders, max_body=settings.max_body_bytes,
                       read_timeout=settings.body_read_timeout,
                       max_import=settings.max_import_bytes,
                       precheck=settings.import_precheck_bytes)
    app.add_middleware(HeadAsGet)
    return app


app = create_app()
