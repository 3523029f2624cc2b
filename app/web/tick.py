"""A Play tick (POST /s/{id}/tick): train within a per-tick budget, then send only what changed.

Lean frames. While Play runs, the diagram and the data panel are drawn by lighter templates
(diagram_live.html: no per-edge links, titles or ARIA; data_live.html: the heatmap, with the
sample points as a cached image, /s/{id}/points.svg). Each region's HTML is hashed; the client
echoes the hashes it holds (the hidden ``have`` input, updated by every reply) and a region whose
hash it already holds is not sent. When Play stops, the full regions are sent again.

Fair sharing. A tick trains for at most ``tick_budget`` seconds (setting, default 50 ms) however
many epochs were asked for, then replies; the next tick of that student waits for the page's
next poll, 250 ms after the reply. The compiled kernel releases the GIL while it trains, so the
thread pool runs one tick per core at a time and the event loop keeps serving other requests.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import time
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from app.sessions.budget import check_page
from app.sessions.door import Door, Outcome
from app.sessions.model import Session
from app.sessions.store import SessionNotFound
from app.web import forms, heatcache, i18n
from app.web.views import ViewState, raw_points, session_view

router = APIRouter(include_in_schema=False)
REGIONS = ("diagram", "inspector", "data", "loss", "status", "undo")
BETWEEN_TAGS = re.compile(r">\s+<")
POINTS_CACHE = 256  # sessions' point images kept (a few KB each)
_points: OrderedDict[str, bytes] = OrderedDict()


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def parse_have(value: str | None) -> dict[str, str]:
    """``region:hash,region:hash`` as the client echoes it; anything malformed counts as nothing
    held (so everything is sent)."""
    held: dict[str, str] = {}
    for part in (value or "")[:400].split(","):
        name, _, h = part.partition(":")
        if name in REGIONS and len(h) == 12:
            held[name] = h
    return held


def edges_svg(diagram: Any) -> Markup:
    """The edges as bare paths (diagram.py's Diagram.edges_svg without the links); the dashed
    (negative) ones in one group, so the dash pattern is written once."""
    solid: list[str] = []
    dashed: list[str] = []
    for e in diagram.edges:
        (dashed if e.negative else solid).append(
            f'<path d="M{e.x1:g} {e.y1:g} {e.x2:g} {e.y2:g}" stroke="{e.color}" '
            f'stroke-width="{e.width:.2g}"/>')
    return Markup("".join(solid) + '<g stroke-dasharray="7 4">' + "".join(dashed) + "</g>")


def points_document(heat: Any) -> bytes:
    size = heat.size
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" '
            f'height="{size}"><style>.pt{{stroke-width:1}}.pt.test{{stroke-width:1.8}}</style>'
            f"{heat.points}</svg>").encode()


def remember_points(sid: str, heat: Any) -> str:
    """Keep the session's point image; its URL carries the content hash (so it can be cached
    for ever by the browser)."""
    doc = points_document(heat)
    h = hashlib.blake2b(doc, digest_size=6).hexdigest()
    key = f"{sid}/{h}"
    _points[key] = doc
    _points.move_to_end(key)
    while len(_points) > POINTS_CACHE:
        _points.popitem(last=False)
    return f"/s/{sid}/points.svg?v={h}"


def frame(s: Session, ctx: dict[str, Any], render: Any, held: dict[str, str], stop: bool,
          settings: Any, vs: ViewState, _: Any) -> tuple[str, float]:
    """The reply — changed regions (lean while playing, full when stopping) and the new
    hashes — and the ms spent in templates and hashing (after building the view)."""
    view = ViewState(vs.sel, vs.log, not stop, vs.n)
    ctx.update(session_view(s, settings, view, _, projector=ctx["projector"]), oob=True)
    t_view = time.perf_counter()
    names = {"diagram": "partials/diagram.html", "data": "partials/data.html"}
    if not stop:
        ctx["live_edges"] = edges_svg(ctx["diagram"])
        heat = ctx["data"]["heat"]
        ctx["points_url"] = remember_points(s.id, heat) if heat is not None else ""
        names = {"diagram": "partials/diagram_live.html", "data": "partials/data_live.html"}
    parts, now = [], []
    for region in REGIONS:
        if stop and region == "undo":
            continue  # the controls sent below carry the undo bar
        html = render(names.get(region, f"partials/{region}.html"), ctx)
        if not stop and region in ("diagram", "data"):  # indentation between SVG tags
            html = BETWEEN_TAGS.sub("><", html)
        h = digest(html)
        now.append(f"{region}:{h}")
        if held.get(region) != h:
            parts.append(html)
    if stop:
        parts.append(render("partials/controls.html", ctx))
        parts.append(render("partials/player.html", ctx))
    else:
        have = ",".join(now)
        parts.append(f'<input type="hidden" id="tick-have" name="have" value="{have}" '
                     'hx-swap-oob="true">')
    return "".join(parts), (time.perf_counter() - t_view) * 1000


async def tick(request: Request, sid: str, render: Any, base_ctx: Any, settings: Any,
               door: Door, respond: Any, timeline: int) -> Response:
    """One Play tick, through the door (a restore point, a new version, an event for
    watchers). 286 stops the polling (divergence, or the session is gone)."""
    vs = ViewState.parse(request.query_params)
    held = parse_have(forms.Form.parse(await request.body(), settings.max_form_fields)
                      .one("have"))
    ctx = base_ctx(request)
    _ = i18n.gettext_for(ctx["lang"])
    gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
    t0 = time.perf_counter()

    def view(s: Session, outcome: Outcome[Any]) -> tuple[str, bytes | None, bool, str]:
        stop = s.trainer.status == "diverged"
        t1 = time.perf_counter()
        ctx["timeline"] = s.undo.timeline(timeline)
        html, render_ms = frame(s, ctx, render, held, stop, settings, vs, _)
        total = (time.perf_counter() - t1) * 1000
        # Server-Timing: training (with taking the session), building the view, templates
        # (+ hashing).
        timing = (f"train;dur={(t1 - t0) * 1000:.2f}, "
                  f"view;dur={total - render_ms:.2f}, render;dur={render_ms:.2f}")
        # ~28 KB of HTML is ~10 KB gzipped (level 1: ~0.1 ms); a class of 30 polling
        # 4 times a second then needs ~10 Mbit/s of Wi-Fi instead of ~27.
        body = gzip.compress(html.encode(), compresslevel=1) if gzip_ok else None
        return html, body, stop, timing

    try:
        html, body, stop, timing = await door.apply(
            sid, "tick", vs.n, settings.tick_budget, view=view,
            before=lambda s: check_page(s.config, settings.max_reply_bytes))
    except SessionNotFound:
        return Response(status_code=286)
    r: Response = respond(request, "" if body is not None else html, 286 if stop else 200,
                          headers={"Server-Timing": timing, "Vary": "Accept-Encoding"})
    if body is not None:
        r.body = body
        r.headers["content-length"] = str(len(body))
        r.headers["content-encoding"] = "gzip"
    return r


@router.get("/s/{sid}/points.svg")
async def points(request: Request, sid: str, v: str = "") -> Response:
    """The sample points of a session's heatmap (immutable: the URL carries their hash)."""
    doc = _points.get(f"{sid}/{v}")
    if doc is None:  # another worker drew it, or it was evicted: draw it from the session
        try:
            async with request.app.state.store.use(sid, write=False) as s:
                def draw() -> bytes | None:
                    raw = raw_points(s)  # the input plane, before the input features
                    if raw is None:
                        return None
                    heat = heatcache.heatmap(s.trainer.net, raw, list(s.config.features),
                                             s.config.output_activation, s.task)
                    return points_document(heat)
                doc = await run_in_threadpool(draw)
        except SessionNotFound:
            doc = None
        if doc is None:
            return Response(status_code=404)
    return Response(doc, media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=31536000, immutable"})
