"""The HTML pages and htmx fragments, gathered: the landing pages (landing.py), the session page
and its toolbar (session.py), Play ticks (tick.py), editing the experiment
(experiment.py) and following a session (watch.py); with compression and HTML error pages."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from app.web.infra import page_errors
from app.web.routes import compare, compare_watch, experiment, landing, polls, tick, watch
from app.web.routes import session as session_pages


def install(app: FastAPI) -> None:
    for module in (landing, session_pages, tick, experiment, watch, polls, compare,
                   compare_watch):
        app.include_router(module.router)
    # HTML, CSS and JS compressed (Starlette leaves text/event-stream alone). Level 6: the
    # 190 KB spiral page gzips in 7 ms to 21 KB; level 9 took 9.5 ms for 20 KB.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    # Pages get HTML error pages; /api (and the docs, health and static files) keep JSON.
    page_errors.install(app)
