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
import string
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from app.deps import DoorDep
from app.sessions.budget import check_page
from app.sessions.commands import Command, RunChunk, State, Tick
from app.sessions.door import Door, Outcome
from app.sessions.model import Session
from app.sessions.render_budget import page_cost
from app.sessions.runs import Chunk
from app.sessions.store import SessionNotFound
from app.web.drawing import heatcache, heatmaps
from app.web.infra import forms, i18n
from app.web.routes import live_regions
from app.web.views import train_run
from app.web.views.flash import Flash
from app.web.views.session import ViewState, raw_points, session_view

router = APIRouter(include_in_schema=False)
REGIONS = ("diagram", "inspector", "data", "loss", "status", "undo")
BETWEEN_TAGS = re.compile(r">\s+<")


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


REGION_CACHE: heatmaps.LRU[str] = heatmaps.LRU(512)
# The regions only Play frames draw: filled skeletons (app/web/routes/live_regions.py).
LIVE_REGIONS = {"partials/diagram_live.html": live_regions.diagram,
                "partials/data_live.html": live_regions.data,
                "partials/status.html": live_regions.status,
                "partials/loss.html": live_regions.loss}
HEAD_CACHE: heatmaps.LRU[str] = heatmaps.LRU(512)


def inputs_key(region: str, ctx: Mapping[str, Any], view: ViewState) -> tuple[Any, ...] | None:
    """Everything a region's template reads, for the regions that rarely change while
    playing (the undo bar once its timeline is all Play steps; the inspector with nothing
    selected): equal keys, equal HTML, so neither is rendered again. Keep in step with
    partials/undo.html and partials/inspector.html."""
    base = (region, ctx["lang"], ctx["base"], view.query())
    if region == "undo":
        undo = ctx["state"]["undo"]
        return (*base, bool(undo["back"]), bool(undo["forward"]),
                tuple((t["label"], t["jump"], t["past"]) for t in ctx["timeline"]))
    if region == "inspector" and ctx["inspector"] is None:
        return base
    return None


PHRASES: dict[tuple[Any, ...], Markup] = {}
PHRASES_MAX = 4096  # languages × template phrases (and plural counts): started over beyond


@pass_context
def phrase(ctx: Context, message: str, **variables: Any) -> str:
    """The templates' ``_()`` in a frame: jinja2.ext's gettext (the translation as Markup, then
    %-formatted), remembered per language and message: every frame asks for the same phrases."""
    gettext = cast(Callable[..., str], ctx.environment.globals["gettext"])
    if variables or not ctx.eval_ctx.autoescape:  # as jinja2.ext's, not remembered
        return cast(str, ctx.call(gettext, message, **variables))
    key = ("_", ctx.get("lang"), message)
    hit = PHRASES.get(key)
    if hit is None:
        hit = _remember(key, ctx.call(gettext, message))
    return hit


@pass_context
def plural(ctx: Context, singular: str, plural: str, n: int, **variables: Any) -> str:
    """The templates' ``ngettext()`` in a frame, remembered as :func:`phrase`."""
    ngettext = cast(Callable[..., str], ctx.environment.globals["ngettext"])
    if variables or not ctx.eval_ctx.autoescape:
        return cast(str, ctx.call(ngettext, singular, plural, n, **variables))
    key = ("n", ctx.get("lang"), singular, plural, n)
    hit = PHRASES.get(key)
    if hit is None:
        hit = _remember(key, ctx.call(ngettext, singular, plural, n))
    return hit


class Phrase(Markup):
    """A remembered phrase whose fields are all plain (``{n}``, ``{}``, ``{0}``: no attribute,
    index, conversion or format spec): ``.format()`` escapes each value and fills the fields
    with ``str.format``. The result is markupsafe's own (its EscapeFormatter formats a plain
    field as ``str(value)``, escaped, and a Markup value as itself), without its Python-level
    formatter: a frame fills about ten phrases."""

    __slots__ = ()

    # A plain Markup, not a Phrase: its text now holds values, not checked fields.
    def format(self, *args: Any, **kwargs: Any) -> Markup:  # type: ignore[override]
        try:
            return Markup(str.format(self, *map(escape, args),
                                     **{k: escape(v) for k, v in kwargs.items()}))
        except (IndexError, KeyError, ValueError):  # markupsafe's own says what is wrong
            return super().format(*args, **kwargs)


def _plain_fields(text: str) -> bool:
    try:
        return all(conversion is None and not spec
                   and (name == "" or name.isidentifier() or name.isdigit())
                   for _lit, name, spec, conversion in string.Formatter().parse(text)
                   if name is not None)
    except ValueError:  # unbalanced braces: markupsafe's formatter says so, as before
        return False


def _remember(key: tuple[Any, ...], value: Any) -> Markup:
    if len(PHRASES) >= PHRASES_MAX:
        PHRASES.clear()
    m = Markup(value)
    PHRASES[key] = m = Phrase(m) if _plain_fields(m) else m
    return m


def diagram_head(ctx: Mapping[str, Any], render: Any) -> Markup:
    """The diagram's heading and sample note (partials/diagram_head.html), rendered once for
    what it reads: the same for tick after tick of a session. Keep in step with the template."""
    cfg, data = ctx["cfg"], ctx["data"]
    key = digest(repr(("diagram_head", ctx["lang"], tuple(cfg.layers), cfg.loss, cfg.reduction,
                       cfg.learning_rate, cfg.optimizer.name, data["focus_index"],
                       data["focus_values"], data["size"]))).encode()
    html = HEAD_CACHE.get(key)
    if html is None:
        html = render("partials/diagram_head.html", ctx)
        HEAD_CACHE.put(key, html)
    return Markup(html)


def frame(s: Session, ctx: dict[str, Any], render: Any, held: dict[str, str], stop: bool,
          settings: Any, vs: ViewState, _: Any, echo: bool = True) -> tuple[str, float]:
    """The reply — changed regions (lean while playing, full when stopping) and the new
    hashes — and the ms spent in templates and hashing (after building the view). ``held``
    is updated to what the client holds after it; ``echo``: the hashes go back in the reply
    (the polling page echoes them; a stream remembers them itself, or for the regions drawn
    every tick the HTML it sent)."""
    view = ViewState(vs.sel, vs.log, not stop, vs.n)
    ctx["_"], ctx["ngettext"] = phrase, plural
    ctx.update(session_view(s, settings, view, _, projector=ctx["projector"], live=not stop),
               oob=True)
    t_view = time.perf_counter()
    names = {"diagram": "partials/diagram.html", "data": "partials/data.html"}
    if not stop and not getattr(ctx["diagram"], "lecture", False):
        ctx["diagram_head"] = diagram_head(ctx, render)
        ctx["live_edges"] = ctx["diagram"].edges_html  # app/web/drawing/diagram_live.py
        ctx["live_nodes"] = ctx["diagram"].nodes_html
        raw = ctx["raw_points"]  # from session_view: not drawn a second time
        ctx["points_url"] = "" if raw is None else points_url(s, raw)
        names = {"diagram": "partials/diagram_live.html", "data": "partials/data_live.html"}
    elif not stop:  # the lecture layout is small: Play draws it in full (the layout stays)
        raw = ctx["raw_points"]
        ctx["points_url"] = "" if raw is None else points_url(s, raw)
        names = {"data": "partials/data_live.html"}
    parts: list[str] = []
    now: dict[str, str] = {}
    for region in REGIONS:
        if stop and region == "undo":
            continue  # the controls sent below carry the undo bar
        key = None if stop else inputs_key(region, ctx, view)
        if key is not None:  # known by what it shows: drawn only if the client lacks it
            h = digest(repr(key))
            now[region] = h
            if held.get(region) != h:
                html = REGION_CACHE.get(h.encode())
                if html is None:
                    html = render(f"partials/{region}.html", ctx)
                    REGION_CACHE.put(h.encode(), html)
                parts.append(html)
            continue
        name = names.get(region, f"partials/{region}.html")
        live = None if stop else LIVE_REGIONS.get(name)
        html = live(render, ctx) if live is not None else render(name, ctx)
        if not stop and region in ("diagram", "data"):  # indentation between SVG tags
            html = BETWEEN_TAGS.sub("><", html)
        # A stream remembers what it sent itself: the region's HTML, compared as a string
        # (it differs within its first few hundred characters when it differs); a polling
        # page is told a hash, which it echoes.
        h = digest(html) if echo else html
        now[region] = h
        if held.get(region) != h:
            parts.append(html)
    held.clear()
    held.update(now)
    if stop:
        parts.append(render("partials/controls.html", ctx))
        parts.append(render("partials/player.html", ctx))
    elif echo:
        have = ",".join(f"{k}:{h}" for k, h in now.items())
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

    # A chunk of a long training run (Train N on the page) rather than a Play tick.
    run_id = (request.query_params.get("run") or "")[:32] or None

    def view(s: Session, outcome: Outcome[Any]) -> tuple[str, bytes | None, bool, str]:
        chunk = outcome.result
        if run_id is None:
            stop = stops(s)
        else:  # the run is done, diverged, or ended by something else (Unchanged)
            stop = not isinstance(chunk, Chunk) or chunk.finished
            ctx["run"] = train_run.progress(s, settings, _, live=not stop)
            if stop:
                flash = Flash.of("run", outcome)
                ctx["message"] = flash.text(_, i18n.ngettext_for(ctx["lang"])) if flash else None
        t1 = time.perf_counter()
        ctx["timeline"] = train_run.timeline(s.undo, timeline, _)
        html, render_ms = frame(s, ctx, render, held, stop, settings, vs, _)
        if run_id is not None:
            if not stop:
                html += render("partials/run.html", ctx)
            say = (ctx["message"] if stop else
                   train_run.announcement(chunk, _) if isinstance(chunk, Chunk) else None)
            if say:  # the live region: the start, every tenth at most, the end
                html += f'<div id="announce" hx-swap-oob="innerHTML">{escape(say)}</div>'
        total = (time.perf_counter() - t1) * 1000
        # Server-Timing: training (with taking the session), building the view, templates
        # (+ hashing).
        timing = (f"train;dur={(t1 - t0) * 1000:.2f}, "
                  f"view;dur={total - render_ms:.2f}, render;dur={render_ms:.2f}")
        # ~28 KB of HTML is ~10 KB gzipped (level 1: ~0.1 ms); a class of 30 polling
        # 4 times a second then needs ~10 Mbit/s of Wi-Fi instead of ~27.
        body = gzip.compress(html.encode(), compresslevel=1) if gzip_ok else None
        return html, body, stop, timing

    command: Command[Any] = (Tick(vs.n, settings.tick_budget) if run_id is None else
                             RunChunk(run_id, None, settings.run_chunk_budget))
    try:
        html, body, stop, timing = await door.apply(
            sid, command, view=view,
            before=lambda s: check_page(s.config, settings.max_reply_bytes),
            cost=lambda s: page_cost(s.config))  # the regions that changed: at most the page
    except SessionNotFound:
        return Response(status_code=286)
    r: Response = respond(request, "" if body is not None else html, 286 if stop else 200,
                          headers={"Server-Timing": timing, "Vary": "Accept-Encoding"})
    if body is not None:
        r.body = body
        r.headers["content-length"] = str(len(body))
        r.headers["content-encoding"] = "gzip"
    return r


def stops(s: Session) -> bool:
    """Play ends by itself when the network diverged (the reply is the full page regions)."""
    return s.trainer.status == "diverged"


def play_frame(s: Session, ctx: dict[str, Any], render: Any, held: dict[str, str],
               settings: Any, vs: ViewState, _: Any, timeline: int) -> tuple[str, bool]:
    """One Play frame as the stream (app/web/routes/play.py) sends it: the regions that changed
    since ``held`` (updated in place with what the client now holds), or the full regions,
    the controls and the player once Play stops."""
    stop = stops(s)
    ctx["timeline"] = train_run.timeline(s.undo, timeline, _)
    html, _ms = frame(s, ctx, render, held, stop, settings, vs, _, echo=False)
    return html, stop


def points_url(s: Session, raw: heatcache.Raw) -> str:
    """The session's sample points as an image whose URL carries their hash (cached for ever
    by the browser; a new hash when the data change)."""
    _doc, h = heatcache.points(raw, s.config.output_activation, s.task)
    return f"/s/{s.id}/points.svg?v={h}"


@router.get("/s/{sid}/points.svg")
async def points(door: DoorDep, sid: str, v: str = "") -> Response:
    """The sample points of a session's heatmap; immutable when ``v`` is their current hash."""
    def draw(s: Session, _: Outcome[None]) -> tuple[bytes, str] | None:
        raw = raw_points(s)  # the input plane, before the input features
        if raw is None:
            return None
        return heatcache.points(raw, s.config.output_activation, s.task)

    try:
        found = await door.apply(sid, State(), view=draw)
    except SessionNotFound:
        found = None
    if found is None:
        return Response(status_code=404)
    doc, h = found
    cache = "private, max-age=31536000, immutable" if v == h else "no-cache"
    return Response(doc, media_type="image/svg+xml", headers={"Cache-Control": cache})
