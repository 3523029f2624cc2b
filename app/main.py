"""The ASGI app: create_app(settings) wires the API, the pages, static files and the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.api import errors
from app.api import routes as api_routes
from app.api.schemas import Health
from app.config import Settings, get_settings
from app.nn import kernel_slot, numba_kernel
from app.sessions.store import make_store

ROOT = Path(__file__).resolve().parent.parent

# Pages get a strict policy: no inline script or style, no eval, not framable.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
# FastAPI's /docs and /redoc pages load Swagger UI / ReDoc from a CDN with an inline script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "img-src 'self' data: https://fastapi.tiangolo.com; worker-src 'self' blob:; "
            "frame-ancestors 'none'")


class SecurityHeaders:
    """Adds the security headers to every response, and refuses bodies over the limit (413)
    both by Content-Length and while streaming."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = DOCS_CSP if path in ("/docs", "/redoc") else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"content-security-policy", csp.encode()),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                ]
                headers += [(k, v) for k, v in extra if k not in names]
                message["headers"] = headers
            await send(message)

        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    too_big = int(value) > self.max_body
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(send_with_headers)
                    return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    rejected = True
                    raise _TooLarge
            return message

        replied = False

        async def send_guarded(message: Message) -> None:
            # FastAPI turns an exception while reading the body into its own 400: once the
            # body went over the limit, answer 413 instead of whatever the app replies.
            nonlocal replied
            if rejected:
                if message["type"] == "http.response.start" and not replied:
                    replied = True
                    await self._reject(send_with_headers)
                return
            replied = replied or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, limited_receive, send_guarded)
        except _TooLarge:
            if not replied:
                await self._reject(send_with_headers)

    async def _reject(self, send: Send) -> None:
        body = (b'{"detail":"request body too large: the limit is %d bytes '
                b'(setting max_body_bytes)"}' % self.max_body)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = make_store(settings)
        await store.open()
        app.state.store = store
        kernel_slot.configure(settings.kernel)
        # Compile (or load from numba's cache) off the event loop; "auto" uses NumPy meanwhile.
        warm = (asyncio.create_task(asyncio.to_thread(numba_kernel.warm))
                if settings.kernel != "numpy" and numba_kernel.available() else None)
        try:
            yield
        finally:
            if warm is not None:
                await warm  # a thread cannot be cancelled; compiling ends on its own
            await store.close()

    app = FastAPI(
        title="Backprop Lab",
        version=__version__,
        summary="Step through backpropagation, layer by layer, with every number exact.",
        description="The REST contract of ../shared/API.md: create a session, step the "
        "forward pass, the backward pass and the update one layer at a time, or train.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    app.include_router(api_routes.router)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz(request: Request) -> dict[str, object]:
        store = request.app.state.store
        ok = await store.ping()
        return {"status": "ok" if ok else "degraded", "store": store.name,
                "sessions": await store.count() if ok else None,
                "kernel": kernel_slot.resolve_now()}

    from app.web.routes import install as install_web

    install_web(app, settings)
    static = ROOT / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")
    app.add_middleware(SecurityHeaders, max_body=settings.max_body_bytes)
    return app


app = create_app()
