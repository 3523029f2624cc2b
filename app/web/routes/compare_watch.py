"""A comparison followed by the class: one link (and QR code) showing both networks read-only,
refreshed every second while the teacher steps, trains or Plays.

It is built on each session's own watch link (app/web/routes/watch.py): sharing a comparison starts
(or keeps) both links, and ``/compare/w?a={watch id}&b={watch id}`` reads both sessions the way
a watch page does (the last saved state, never the sessions' locks). Like a watch page it never
names a session; stopping either session's sharing ends the comparison's link too."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.config import Settings
from app.deps import DoorDep, SettingsDep
from app.sessions.commands import Watch
from app.sessions.door import Door
from app.sessions.store import SessionNotFound
from app.web.drawing.heatmaps import LRU
from app.web.infra import i18n
from app.web.infra.templating import lang_of, render, respond
from app.web.routes import compare
from app.web.views.session import ViewState

router = APIRouter(include_in_schema=False)


async def watched(request: Request, settings: Settings, door: Door) -> tuple[dict[str, Any],
                                                                          tuple[str, str]]:
    """Both sessions behind the query's watch ids, as the page shows them (SessionNotFound
    for a link that leads nowhere)."""
    pair = (request.query_params.get("a", ""), request.query_params.get("b", ""))
    if not all(0 < len(w) <= 64 for w in pair) or pair[0] == pair[1]:
        raise SessionNotFound("")
    vs = ViewState(None, request.query_params.get("log") in ("1", "true"))
    _ = i18n.gettext_for(lang_of(request))
    both = [await door.watched(w, lambda s: compare.side_of(s, settings, vs, _)) for w in pair]
    ctx = compare.page_ctx(request, settings, pair, vs, both, _)
    query = "?" + urlencode({"a": pair[0], "b": pair[1]})
    ctx.update(readonly=True, page_path="/compare/w",
               query=lambda **kw: query + ("&log=1" if kw.get("log", vs.log) else ""))
    return ctx, pair


@router.get("/compare/w", response_class=HTMLResponse)
async def watch_page(request: Request, settings: SettingsDep, door: DoorDep) -> Response:
    ctx, _pair = await watched(request, settings, door)
    ctx.update(announce="")
    return respond(request, render("compare.html", ctx))


# Rendered once per (link, both versions, language, scale), never once per watcher: a class of
# 200 polling every second costs two cheap version reads per poll, not 200 renders.
FRAMES: LRU[str] = LRU(64)


@router.get("/compare/w/frame", response_class=HTMLResponse)
async def watch_frame(request: Request, settings: SettingsDep, door: DoorDep) -> Response:
    """The regions that change, out of band; 286 (stop polling) once the link is gone."""
    pair = (request.query_params.get("a", ""), request.query_params.get("b", ""))
    try:
        versions = [await door.watched(w, lambda s: s.version) if 0 < len(w) <= 64 else None
                    for w in pair]
        key = repr((pair, versions, lang_of(request),
                    request.query_params.get("log") in ("1", "true"))).encode()
        html = FRAMES.get(key)
        if html is None:
            ctx, _pair = await watched(request, settings, door)
            ctx.update(oob=True)
            html = "".join(render(f"partials/compare_{region}.html", ctx)
                           for region in ("diagrams", "charts", "status"))
            FRAMES.put(key, html)
    except SessionNotFound:
        return Response(status_code=286)
    return respond(request, html)


@router.post("/compare/share")
async def share_both(request: Request, settings: SettingsDep, door: DoorDep) -> Response:
    """Start sharing both sessions (a session already shared keeps its link)."""
    pair = compare.ids(request)
    for sid in pair:
        await door.apply(sid, Watch())  # (linked in the hub by the door)
    return RedirectResponse(f"/compare?{urlencode({'a': pair[0], 'b': pair[1]})}"
                            "#compare-share", status_code=303)
