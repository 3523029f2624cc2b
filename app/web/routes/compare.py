"""Two networks side by side (issue #21, part 2): "Compare with…" forks a session with one
change; /compare?a=…&b=… shows both diagrams compactly, one loss chart with both networks'
curves and their gradient norms on one scale, and one toolbar that steps, trains and Plays
both in lockstep; /compare/new recreates a comparison from two setup links or presets.

Both sessions stay ordinary sessions (each has its own page, undo, export): every operation
goes through the door, once per session, and the page is rendered from what each view
captured under its own lock.

Lockstep. A train or a Play tick is bounded in time per session, so one network may finish
fewer epochs than the other (a slower kernel, a budget running out). The rule: Train and Run
epoch bring both to the same target epoch (the later one's epoch + the epochs asked for); a
Play tick first lets the one behind catch up and only then advances both by the speed's
epochs. A diverged network stops; the other goes on."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.config import Settings
from app.deps import DoorDep, SettingsDep, check_creation
from app.nn.stepper import CursorError
from app.sessions import service
from app.sessions.budget import check_page
from app.sessions.commands import Command, Create, Reset, State, Step, Tick, Train, drawable
from app.sessions.config import ConfigError
from app.sessions.door import Admit, Door, Outcome
from app.sessions.limits import RateLimited
from app.sessions.model import Session
from app.sessions.normalized import NormalizedConfig
from app.sessions.state import HistoryPoint, session_state
from app.sessions.store import SessionNotFound, StoreFull
from app.web.drawing import charts, compare_charts, diagram_live
from app.web.infra import forms, i18n
from app.web.infra.fmt import num
from app.web.infra.page_errors import error_text
from app.web.infra.templating import base_ctx, is_htmx, lang_of, remember, render, respond
from app.web.routes import landing
from app.web.routes import session as session_pages
from app.web.views import compare_setup, share
from app.web.views import session as views
from app.web.views.session import ViewState

router = APIRouter(include_in_schema=False)
WHO = ("a", "b")
OPS = ("step", "epoch", "train", "reset", "play", "pause")


@dataclass
class Side:
    """One network as the comparison page shows it (captured under its session's lock)."""

    sid: str
    cfg: NormalizedConfig
    epoch: int
    loss: str
    status: str
    next_text: str
    history: list[HistoryPoint]
    diagram: diagram_live.LiveDiagram
    edges: Any
    nodes: Any
    watch_id: str | None = None


def side_of(s: Session, settings: Settings, vs: ViewState, _: Callable[[str], str]) -> Side:
    state = session_state(s, history=charts.CURVE_POINTS,
                          default_max=settings.trace_default_max)
    if vs.play and state["layers"][0]["z"] is None:
        views.show_batch(s, state)  # as the session page does while playing
    positions: list[int] = state["batch"]["positions"]
    focus = min(s.focus, int(state["batch"]["size"]) - 1)
    row = positions.index(focus) if focus in positions else None
    # The compact drawing of Play frames (no links, names or labels): the page is about the
    # two networks' behaviour; each network's own page has the full diagram.
    dg = diagram_live.draw(state, row, None, _, None, False)
    return Side(s.id, s.config, s.trainer.epoch, num(state["loss"], 6), s.trainer.status,
                views.next_text(state["cursor"], _), state["history"], dg,
                dg.edges_html, dg.nodes_html, s.watch_id)


def ids(request: Request) -> tuple[str, str]:
    """The two sessions of the page (SessionNotFound, a 404 page, for a missing or odd one)."""
    a = request.query_params.get("a", "")
    b = request.query_params.get("b", "")
    for sid in (a, b):
        if not sid or len(sid) > 64:
            raise SessionNotFound(sid[:64])
    if a == b:
        raise ConfigError(("b",), "a and b must be two different sessions")
    return a, b


def query(a: str, b: str, vs: ViewState, **changes: Any) -> str:
    rest = vs.query(**changes)
    return f"?{urlencode({'a': a, 'b': b})}" + ("&" + rest[1:] if rest else "")


async def sides(door: Door, settings: Settings, pair: tuple[str, str], vs: ViewState,
                _: Callable[[str], str]) -> list[Side]:
    def view(s: Session, outcome: Outcome[Any]) -> Side:
        return side_of(s, settings, vs, _)

    return [await door.apply(sid, State(), view=view,
                             before=lambda s: check_page(s.config, settings.max_reply_bytes))
            for sid in pair]


def watch_url(request: Request, settings: Settings, both: list[Side]) -> str | None:
    """The class's link to a comparison whose sessions are both shared (app/web/routes/
    compare_watch.py), else None."""
    ids = [s.watch_id for s in both]
    if ids[0] is None or ids[1] is None:
        return None
    root = share.site_root(request, settings.public_base_url)
    return f"{root}/compare/w?{urlencode({'a': ids[0], 'b': ids[1]})}"


def page_ctx(request: Request, settings: Settings, pair: tuple[str, str], vs: ViewState,
             both: list[Side], _: Callable[[str], str]) -> dict[str, Any]:
    ctx = base_ctx(request)
    a, b = both
    label_a, label_b = compare_setup.differences(a.cfg, b.cfg, _)
    histories = {"a": a.history, "b": b.history}
    try:
        setup: str | None = compare_setup.compare_url(a.cfg, b.cfg)
    except ConfigError:
        setup = None
    ctx.update(
        a=a, b=b, labels={"a": label_a, "b": label_b}, vs=vs, pair=pair,
        tags={"a": _("A"), "b": _("B")},  # the networks' names (Korean: 가, 나)
        base="/compare", here_query=query(*pair, vs),
        curve=compare_charts.pair_curve(histories, vs.log),
        norms=compare_charts.pair_norm_charts(histories), colors=compare_charts.COLORS,
        setup_url=setup, speeds=views.PLAY_SPEEDS, max_epochs=settings.max_epochs,
        query=lambda **kw: query(*pair, vs, **kw), readonly=False, page_path="/compare",
        watch_url=None, watch_qr=None)
    ctx["watch_url"] = watch_url(request, settings, both)
    if ctx["watch_url"] is not None:
        ctx["watch_qr"] = share.qr_svg(ctx["watch_url"])
    return ctx


async def page(request: Request, settings: Settings, door: Door, pair: tuple[str, str],
               vs: ViewState, message: str | None = None, error: str | None = None,
               block: str | None = None) -> str:
    lang = lang_of(request)
    _ = i18n.gettext_for(lang)
    ctx = page_ctx(request, settings, pair, vs, await sides(door, settings, pair, vs, _), _)
    ctx.update(message=message, error=error, swap=block is not None,
               announce=error or message or _("Epoch {a} and {b}.").format(
                   a=ctx["a"].epoch, b=ctx["b"].epoch))
    return render("compare.html", ctx, block)


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(request: Request, settings: SettingsDep, door: DoorDep) -> Response:
    try:
        pair = ids(request)
    except ConfigError as e:
        return landing.landing(request, settings, error_text(lang_of(request), e))
    vs = ViewState.parse(request.query_params)
    html = await page(request, settings, door, pair, vs,
                      block="workspace" if is_htmx(request) else None)
    return respond(request, html)


async def epochs_of(door: Door, pair: tuple[str, str]) -> list[tuple[int, bool]]:
    """Each session's epoch and whether it diverged."""
    return [await door.apply(sid, State(), view=lambda s, o: (
        s.trainer.epoch, s.trainer.status == "diverged")) for sid in pair]


async def lockstep(door: Door, settings: Settings, pair: tuple[str, str], epochs: int,
                   playing: bool) -> list[ConfigError]:
    """Train both towards one target epoch (module docstring): Play ticks within tick_budget
    each, Train within train_time_budget each. After a Train, the one behind catches up with
    the other's epoch while the whole request has taken less than twice train_time_budget
    (so at most about three budgets). The errors of either (its session unchanged)."""
    t0 = time.monotonic()
    now = await epochs_of(door, pair)
    ahead = max(e for e, _d in now)
    target = ahead if playing and len({e for e, _d in now}) > 1 else ahead + epochs
    errors: list[ConfigError] = []
    while True:
        for sid, (e, diverged) in zip(pair, now, strict=True):
            k = min(target - e, settings.max_epochs)
            if k <= 0 or diverged:
                continue
            command: Command[Any] = Tick(k, settings.tick_budget) if playing else Train(k)
            r = await door.apply(sid, command, expected=(ConfigError,))
            if isinstance(r, ConfigError):
                errors.append(r)
        if playing or errors or time.monotonic() - t0 >= 2 * settings.train_time_budget:
            return errors
        now = await epochs_of(door, pair)
        # The epoch both can reach: the one ahead waits for the other.
        target = max(e for e, _d in now)
        if all(e == target or d for e, d in now):
            return errors


@router.post("/compare/do", response_class=HTMLResponse)
async def compare_do(request: Request, settings: SettingsDep, door: DoorDep) -> Response:
    try:
        pair = ids(request)
    except ConfigError as e:
        return landing.landing(request, settings, error_text(lang_of(request), e))
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    vs = session_pages.form_view(request, form)
    name = form.one("op")
    if name not in OPS:
        name = "step"
    htmx = is_htmx(request)
    vs = ViewState(None, vs.log, name == "play" and htmx, vs.n)
    lang = lang_of(request)
    _ = i18n.gettext_for(lang)
    error = None
    try:
        if name in ("epoch", "train") or (name == "play" and not htmx):
            n = 1 if name == "epoch" else vs.n if name == "play" else forms.as_int(
                form, "epochs", ("epochs",), 100)
            assert n is not None
            service.check_epochs(n, settings)
            errors = await lockstep(door, settings, pair, n, False)
            if errors:
                error = error_text(lang, errors[0])
        elif name in ("step", "reset"):
            for sid in pair:
                await door.apply(sid, Step() if name == "step" else Reset(),
                                 expected=(CursorError,))
    except ConfigError as e:
        error = error_text(lang, e)
    html = await page(request, settings, door, pair, vs, error=error,
                      block="workspace" if htmx else None)
    if htmx or error:
        return respond(request, html, 422 if error else 200)
    return RedirectResponse(f"/compare{query(*pair, vs)}", status_code=303)


@router.post("/compare/tick", response_class=HTMLResponse)
async def compare_tick(request: Request, settings: SettingsDep, door: DoorDep) -> Response:
    """One Play tick of both (lockstep), replying with the regions that change (out of band);
    286 stops the polling once both have diverged or either session is gone."""
    vs = ViewState.parse(request.query_params)
    vs = ViewState(None, vs.log, True, vs.n)
    try:
        pair = ids(request)
        errors = await lockstep(door, settings, pair, vs.n, True)
        _ = i18n.gettext_for(lang_of(request))
        both = await sides(door, settings, pair, vs, _)
    except (SessionNotFound, ConfigError):
        return Response(status_code=286)
    stop = all(s.status == "diverged" for s in both) or bool(errors)
    if stop:
        vs = ViewState(None, vs.log, False, vs.n)
    ctx = page_ctx(request, settings, pair, vs, both, _)
    ctx.update(oob=True, error=error_text(lang_of(request), errors[0]) if errors else None)
    parts = [render(f"partials/compare_{region}.html", ctx)
             for region in ("diagrams", "charts", "status")]
    if stop:
        parts += [render("partials/compare_controls.html", ctx),
                  render("partials/compare_player.html", ctx)]
    return respond(request, "".join(parts), 286 if stop else 200)


def refusal(lang: str, e: ConfigError | ValidationError) -> str:
    """Why a comparison was not created, in the page's language."""
    if isinstance(e, compare_setup.ForkError):
        return str(i18n.gettext_for(lang)(e.text)).format(**e.params)
    return error_text(lang, e)


@router.post("/s/{sid}/compare", response_class=HTMLResponse)
async def fork(request: Request, sid: str, settings: SettingsDep, door: DoorDep) -> Response:
    """Compare with…: a new session with the form's one change (same seeds), beside this one
    if it is still as created, else beside a fresh copy of its setup (both start together)."""
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    cfg_a, pristine = await door.apply(sid, State(),
                                       view=lambda s, o: (s.config, s.version == 0))
    try:
        changes = compare_setup.fork_changes(form, cfg_a)
        cfg_b = drawable(compare_setup.fork_config(cfg_a, changes, settings), settings,
                         next(iter(changes)))
        admit: Admit | None = partial(check_creation, request)
        a = sid
        if not pristine:
            a, admit = await door.create(Create(cfg_a), admit=admit), None
        b = await door.create(Create(cfg_b), admit=admit)
    except (ConfigError, ValidationError) as e:
        p = await session_pages.session_html(request, settings, door, sid, ViewState(),
                                             error=refusal(lang_of(request), e))
        return respond(request, p.html, 422)
    except (RateLimited, StoreFull) as e:
        return landing.refused(request, settings, e)
    return RedirectResponse(f"/compare?{urlencode({'a': a, 'b': b})}", status_code=303)


@router.get("/compare/new")
async def compare_new(request: Request, settings: SettingsDep, door: DoorDep,
                      a: str | None = None, b: str | None = None, pa: str | None = None,
                      pb: str | None = None) -> Response:
    """Both sessions of a comparison from setup-link codes (a, b) or presets (pa, pb)."""
    try:
        cfgs = [drawable(compare_setup.config_of(settings, code, preset, field), settings, field)
                for code, preset, field in ((a, pa, "a"), (b, pb, "b"))]
        first = await door.create(Create(cfgs[0]), admit=partial(check_creation, request))
        second = await door.create(Create(cfgs[1]))
    except (ConfigError, ValidationError) as e:
        return landing.landing(request, settings, refusal(lang_of(request), e))
    except (RateLimited, StoreFull) as e:
        return landing.refused(request, settings, e)
    r = RedirectResponse(f"/compare?{urlencode({'a': first, 'b': second})}", status_code=303)
    remember(request, r)  # ?lang= and ?projector= carry over to the comparison
    return r

