"""The class follows the teacher: the watch page /w/{watch_id}, its pushed frames, "Make my
own copy", and sharing from the session page's Share panel (start or stop the watch link; the
panel's lesson file opens through app/web/routes/landing.py). Frames are rendered once per (session,
version, language, scale) on this worker, however many watchers ask, and never through a link
that names the session."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.config import Settings
from app.deps import DoorDep, PollsDep, SettingsDep, check_creation
from app.sessions.commands import Fork, Unwatch, Watch
from app.sessions.config import ConfigError
from app.sessions.door import Door
from app.sessions.model import Session
from app.sessions.render_budget import page_cost
from app.sessions.store import SessionBusy, SessionNotFound, StoreUnavailable
from app.web.infra import forms, i18n
from app.web.infra.templating import base_ctx, is_htmx, render, respond
from app.web.routes import landing, polls
from app.web.views import train_run
from app.web.views.session import ViewState, session_view

router = APIRouter(include_in_schema=False)
FRAMES = 64  # rendered frames kept on this worker
_frames: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_inflight: dict[tuple[Any, ...], asyncio.Future[str]] = {}


def watch_ctx(request: Request, settings: Settings, s: Session, watch_id: str, vs: ViewState
              ) -> dict[str, Any]:
    ctx = base_ctx(request)
    _ = i18n.gettext_for(ctx["lang"])
    view = ViewState(vs.sel or s.view_sel, vs.log, False, vs.n)
    ctx.update(session_view(s, settings, view, _, projector=ctx["projector"],
                            base=f"/w/{watch_id}"))
    ctx["state"] = {**ctx["state"], "id": watch_id}
    ctx.update(sid=None, watch_id=watch_id, readonly=True,
               run=train_run.progress(s, settings, _, live=False, watching=True))
    return ctx


@router.get("/w/{watch_id}", response_class=HTMLResponse)
async def watch_page(request: Request, watch_id: str, settings: SettingsDep,
                     door: DoorDep, service: PollsDep) -> Response:
    vs = ViewState.parse(request.query_params)
    block = "workspace" if is_htmx(request) else None
    poll = await polls.student_poll(service, watch_id)

    def page(s: Session) -> str:
        ctx = watch_ctx(request, settings, s, watch_id, vs)
        _ = i18n.gettext_for(ctx["lang"])
        ctx.update(polls.student_ctx(watch_id, poll, _))
        return render("watch.html", ctx, block)

    html = await door.watched(watch_id, page, lambda s: page_cost(s.config))
    return respond(request, html)


def keep(cache: OrderedDict[tuple[Any, ...], str], key: tuple[Any, ...], html: str,
         max_bytes: int) -> None:
    """Cache a frame, within FRAMES entries and ``max_bytes`` characters (a big network's
    frame is megabytes: 64 of them were most of a worker's memory)."""
    if len(html) > max_bytes:
        return
    cache[key] = html
    total = sum(len(v) for v in cache.values())
    while len(cache) > FRAMES or total > max_bytes:
        _, old = cache.popitem(last=False)
        total -= len(old)


async def frame(request: Request, door: Door, watch_id: str, sid: str, hint: int | None,
                vs: ViewState, lang: str) -> tuple[int, str]:
    """(version, the live regions as out-of-band swaps), rendered once per (session, version,
    language, scale) on this worker: concurrent watchers of the same version share one
    rendering, later ones the cache."""
    key = (sid, hint, lang, vs.log)
    if hint is not None and key in _frames:
        return hint, _frames[key]
    pending = _inflight.get(key)
    if pending is not None:
        return hint or 0, await asyncio.shield(pending)
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    _inflight[key] = future

    def build(s: Session) -> tuple[int, str]:
        cached = _frames.get((sid, s.version, lang, vs.log))
        if cached is not None:
            return s.version, cached
        ctx = watch_ctx(request, door.settings, s, watch_id, vs)
        ctx["oob"] = True
        html = render("partials/watchframe.html", ctx)
        keep(_frames, (sid, s.version, lang, vs.log), html, door.settings.watch_cache_bytes // 2)
        return s.version, html

    try:
        version, html = await door.watched(  # a frame in the cache costs nothing
            watch_id, build, lambda s: 0 if (sid, s.version, lang, vs.log) in _frames
            else page_cost(s.config))
        future.set_result(html)
    except BaseException as e:
        future.set_exception(e)
        future.exception()  # retrieved: no warning when nobody else waited for it
        raise
    finally:
        _inflight.pop(key, None)
    return version, html


async def stream_target(request: Request, watch_id: str, door: DoorDep) -> tuple[str, str]:
    """The session behind the link and the client's address: 404 / 429 before streaming."""
    sid: str = await door.watched(watch_id, lambda s: s.id)
    client = request.client.host if request.client else "unknown"
    door.hub.check(sid, client)
    return sid, client


@router.get("/w/{watch_id}/events", response_class=EventSourceResponse)
async def watch_stream(request: Request, watch_id: str, door: DoorDep,
                       target: Annotated[tuple[str, str], Depends(stream_target)]
                       ) -> AsyncIterator[ServerSentEvent]:
    """The watch page's stream: each change as an event `frame` whose data is the rendered
    live regions (htmx's sse extension swaps them in); the newest state wins while the
    teacher plays."""
    vs = ViewState.parse(request.query_params)
    lang = base_ctx(request)["lang"]
    sid, client = target
    sub = door.hub.subscribe(sid, watch_id, client)
    try:
        hint: int | None = None
        while True:
            try:
                version, html = await frame(request, door, watch_id, sid, hint, vs, lang)
            except (SessionNotFound, SessionBusy, StoreUnavailable):
                return  # EventSource reconnects
            # A slow reader holds its frames: within watch_buffer_bytes for all streams, else
            # this frame is skipped and the next change brings the newest.
            if door.hub.reserve(sub, len(html)):
                yield ServerSentEvent(event="frame", id=str(version), raw_data=html)
            pause = door.settings.watch_min_interval
            if pause:
                await asyncio.sleep(pause)
            while True:
                event = await door.next_change(sub, watch_id)
                if event is None:
                    return  # revoked, or the session is gone
                if "type" not in event:
                    break
                if event["type"] != "poll":
                    continue  # (a count: this stream does not ask for them)
                # A poll asked or revealed: the poll region, the same for every student.
                html = polls.student_html(request, watch_id, event["poll"], oob=True)
                yield ServerSentEvent(event="poll", raw_data=html)
            hint = event["version"]
    finally:
        door.hub.unsubscribe(sub)


@router.post("/w/{watch_id}/copy")
async def make_copy(request: Request, watch_id: str, settings: SettingsDep,
                    door: DoorDep) -> Response:
    """Fork the teacher's current state (config, weights, history) into a new session."""
    try:
        sid = await door.create(Fork(watch_id), admit=partial(check_creation, request))
    except ConfigError as e:  # (every export imports; if one ever did not: a page, not JSON)
        return landing.landing(request, settings, e.msg)  # (as /open says it)
    return RedirectResponse(f"/s/{sid}", status_code=303)


# --- the Share panel on the session page ------------------------------------------------------
@router.post("/s/{sid}/share", response_class=HTMLResponse)
async def share(request: Request, sid: str, door: DoorDep) -> Response:
    """Start (or stop) sharing the session with a watch link (the door links or revokes it
    in the hub)."""
    form = forms.Form.parse(await request.body())
    await door.apply(sid, Unwatch() if form.one("action") == "stop" else Watch())
    return RedirectResponse(f"/s/{sid}#share", status_code=303)
