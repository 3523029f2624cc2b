"""The session page /s/{id} and its toolbar: the stepping buttons, train, undo and redo, the
settings form and the Play tick. Like the JSON API, every request goes through the door, which
takes the session under its lock, runs one operation and renders the page (or the workspace
block htmx swaps), off the event loop. Without htmx a post redirects to the page, the
operation's message (a Flash) riding along in ?msg=. An unknown session raises SessionNotFound
to the pages' error handler (app/web/infra/page_errors.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.config import Settings
from app.deps import DoorDep, SettingsDep
from app.nn.stepper import CursorError
from app.sessions import commands as cmd
from app.sessions import runs, service
from app.sessions.budget import check_page
from app.sessions.config import ConfigError
from app.sessions.door import Door, NothingToUndo, Outcome
from app.sessions.model import Session
from app.sessions.render_budget import page_cost
from app.web.infra import forms, i18n
from app.web.infra.page_errors import error_text
from app.web.infra.templating import base_ctx, is_htmx, lang_of, render, respond
from app.web.routes import play, polls
from app.web.routes import tick as play_tick
from app.web.views import share, train_run
from app.web.views.flash import Flash
from app.web.views.session import ViewState, capture_update, session_view

router = APIRouter(include_in_schema=False)
OPS = ("forward", "backward", "update", "step", "epoch", "train", "reset", "play", "pause",
       "undo", "redo", "continue", "cancel")
TIMELINE = 8  # recent steps shown beside Back / Forward


def announcement(ctx: dict[str, Any], _: Callable[[str], str], ran: bool) -> str:
    """What the persistent live region says after a swap: the error, the message, what the
    inspector now shows (a selection), or where the pass stands now (a step)."""
    if ctx.get("error"):
        return str(ctx["error"])
    if ctx.get("message"):
        return str(ctx["message"])
    if not ran and ctx.get("inspector") is not None:
        return _("Inspector: {title}").format(title=ctx["inspector"].title)
    if ctx["vs"].play:
        n = ctx["vs"].n
        return str(i18n.ngettext_for(ctx["lang"])(
            "Playing: {n} epoch per tick, 4 ticks a second.",
            "Playing: {n} epochs per tick, 4 ticks a second.", n).format(n=n))
    state = ctx["state"]
    return _("Next: {next}. Epoch {epoch}, loss {loss}.").format(
        next=ctx["next_text"], epoch=state["epoch"], loss=ctx["loss_text"])


READ = cmd.State()  # a plain view of the page


@dataclass(frozen=True)
class Page:
    """A rendered session page: its HTML, the operation's message, whether the operation was
    refused (its error is on the page) and the render time."""

    html: str
    flash: Flash | None
    refused: bool
    ms: float


async def session_html(request: Request, settings: Settings, door: Door, sid: str,
                       vs: ViewState, command: cmd.Command[Any] = READ, *,
                       block: str | None = None, error: str | None = None,
                       capture: bool = False,
                       expected: tuple[type[Exception], ...] = (CursorError,)) -> Page:
    """Through the door: ``command``, then the page (or one block of it) rendered under
    the same lock."""
    ctx = base_ctx(request)
    _ = i18n.gettext_for(ctx["lang"])
    select = False
    poll_panel = await polls.panel_data(request, sid)  # beside the session, not in it

    def view(s: Session, outcome: Outcome[Any]) -> Page:
        nonlocal select
        flash = Flash.of(command.name, outcome)
        chunk = outcome.result
        # A run's chunk answered to htmx goes on by itself: the player polls for the next.
        live = (block is not None and isinstance(chunk, runs.Chunk) and not chunk.finished
                and isinstance(command, cmd.RunChunk))
        if live:
            flash = Flash.running(chunk)
        t0 = time.perf_counter()
        ctx.update(session_view(s, settings, vs, _, outcome.before, ctx["projector"]))
        ctx.update(polls.page_ctx(request, s, vs, ctx["focus_pos"], poll_panel, _))
        ctx.update(share=share.share_ctx(request, s, settings.public_base_url),
                   timeline=train_run.timeline(s.undo, TIMELINE, _),
                   run=train_run.progress(s, settings, _, live))
        # Watchers see the teacher's inspector: remember a new selection (below).
        select = s.watch_id is not None and s.view_sel != vs.sel
        err = outcome.error
        # The message of this operation, else (a plain view) the one the redirect carried.
        shown = (Flash.parse(request.query_params.get("msg")) if err is None and flash is None
                 else flash)
        ctx["message"] = (shown.text(_, i18n.ngettext_for(ctx["lang"])) if shown is not None
                          else None)
        ctx["error"] = (error_text(lang_of(request), err)
                        if isinstance(err, (ConfigError, ValidationError)) else error)
        ctx["announce"] = announcement(ctx, _, not isinstance(command, cmd.State) or capture)
        ctx["swap"] = block is not None
        html = render("session.html", ctx, block)
        return Page(html, flash, err is not None, (time.perf_counter() - t0) * 1000)

    def before(s: Session) -> Any:
        check_page(s.config, settings.max_reply_bytes)  # 413 before anything changes
        return capture_update(s, vs.sel) if capture else None

    page = await door.apply(sid, command, view=view, expected=expected,
                            before=before, cost=lambda s: page_cost(s.config))
    if select:
        await door.apply(sid, cmd.Select(vs.sel))
    return page


@router.get("/s/{sid}", response_class=HTMLResponse)
async def session_page(request: Request, sid: str, settings: SettingsDep,
                       door: DoorDep) -> Response:
    vs = ViewState.parse(request.query_params)
    page = await session_html(request, settings, door, sid, vs,
                              block="workspace" if is_htmx(request) else None)
    # Server-Timing: the time to build the view and render it (benchmarks/page_render.py).
    return respond(request, page.html, headers={"Server-Timing": f"render;dur={page.ms:.2f}"})


def operation(name: str, form: forms.Form, settings: Settings, vs: ViewState, htmx: bool
              ) -> cmd.Command[Any] | None:
    """The door's command for a toolbar button."""
    if name in ("undo", "redo"):  # the timeline jumps several steps at once
        steps = forms.as_int(form, "steps", ("steps",), 1) or 1
        if not 1 <= steps <= settings.undo_depth:
            raise ConfigError(("steps",), f"steps must be 1 to {settings.undo_depth}")
        return cmd.Undo(steps) if name == "undo" else cmd.Redo(steps)
    single = {"forward": cmd.Forward(), "backward": cmd.Backward(), "update": cmd.Update(),
              "step": cmd.Step(), "reset": cmd.Reset()}
    if name in single:
        return single[name]
    # Train (and Continue) is a long run: with htmx the page asks for the next chunks by
    # itself (app/web/views/train_run.py); without, each press is one call's worth.
    budget = settings.run_chunk_budget if htmx else settings.train_time_budget
    if name in ("epoch", "train") or (name == "play" and not htmx):
        epochs = 1 if name == "epoch" else vs.n if name == "play" else forms.as_int(
            form, "epochs", ("epochs",), 100)
        assert epochs is not None
        service.check_epochs(epochs, settings)
        if name == "train":
            return cmd.RunChunk(runs.new_id(), epochs, budget)
        return cmd.Train(epochs)
    if name == "continue":
        return cmd.RunChunk((form.one("run") or "")[:32], None, budget)
    if name == "cancel" or (name == "pause" and form.one("run")):
        return cmd.Cancel()  # Pause during a run (the form names it) cancels it
    return None  # play (with htmx) and pause only change what the page shows


def form_view(request: Request, form: forms.Form) -> ViewState:
    """The view (selection, scale, Play) from the query and the form's hidden fields."""
    return ViewState.parse({**request.query_params, **{k: v[0] for k, v in form.items()}})


@router.post("/s/{sid}/do", response_class=HTMLResponse)
async def do(request: Request, sid: str, settings: SettingsDep, door: DoorDep) -> Response:
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    vs = form_view(request, form)
    name = form.one("op")
    if name not in OPS:
        name = "step"
    htmx = is_htmx(request)
    if name == "pause":
        play.pause(sid)  # a Play stream's tick that has not started yet will not start
    vs = ViewState(vs.sel, vs.log, name == "play" and htmx, vs.n)
    error = None
    try:
        command = operation(name, form, settings, vs, htmx)
    except ConfigError as e:
        command, error = None, error_text(lang_of(request), e)
    page = await session_html(request, settings, door, sid, vs, command or cmd.State(),
                              block="workspace" if htmx else None, error=error,
                              capture=name == "update", expected=(CursorError, NothingToUndo))
    if htmx or error:
        return respond(request, page.html, 422 if error else 200)
    query = vs.query()
    if page.flash is not None:
        query += ("&" if query else "?") + urlencode({"msg": page.flash.query()})
    return RedirectResponse(f"/s/{sid}{query}", status_code=303)


@router.post("/s/{sid}/settings", response_class=HTMLResponse)
async def change_settings(request: Request, sid: str, settings: SettingsDep,
                          door: DoorDep) -> Response:
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    vs = form_view(request, form)
    htmx = is_htmx(request)
    block = "workspace" if htmx else None
    try:
        # The regularization fields merge into the session's own (service.patch).
        changes = forms.settings_changes(form)
        page = await session_html(request, settings, door, sid, vs, cmd.Patch(changes),
                                  block=block, expected=(ConfigError, ValidationError))
    except ConfigError as e:  # a field that is not even a number
        page = await session_html(request, settings, door, sid, vs, block=block,
                                  error=error_text(lang_of(request), e))
        return respond(request, page.html, 422)
    if page.refused:  # the session is unchanged; the page says why
        return respond(request, page.html, 422)
    if htmx:
        return respond(request, page.html)
    return RedirectResponse(f"/s/{sid}{vs.query()}", status_code=303)


@router.post("/s/{sid}/tick", response_class=HTMLResponse)
async def tick(request: Request, sid: str, settings: SettingsDep, door: DoorDep) -> Response:
    """One Play tick: its own module (app/web/routes/tick.py) trains within the tick budget and
    sends only the regions that changed."""
    return await play_tick.tick(request, sid, render, base_ctx, settings, door, respond,
                                TIMELINE)


@router.get("/s/{sid}/play")
async def play_stream(request: Request, sid: str, settings: SettingsDep,
                      door: DoorDep) -> Response:
    """Play's frames pushed over one stream while the page plays (app/web/routes/play.py)."""
    return await play.stream(request, sid, settings, door, render, base_ctx, TIMELINE)
