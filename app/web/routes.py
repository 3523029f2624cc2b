"""The HTML pages and htmx fragments. Like the JSON API, every request takes the session under
its lock, runs one operation and renders, off the event loop (run_in_threadpool)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2_fragments import render_block
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from app.api.routes import check_creation
from app.config import Settings
from app.nn import datasets
from app.nn.stepper import CursorError
from app.resources import TEMPLATES
from app.sessions import links, service
from app.sessions.budget import PageTooLarge, check_page
from app.sessions.config import PRESETS, ConfigError, SessionConfig, normalize
from app.sessions.door import Door, NothingToUndo, Outcome
from app.sessions.limits import RateLimited
from app.sessions.model import Session
from app.sessions.store import (
    SessionBusy,
    SessionNotFound,
    SessionStore,
    StoreFull,
    StoreUnavailable,
)
from app.web import forms, i18n, page_errors, share
from app.web import tick as play_tick
from app.web.fmt import num
from app.web.page_errors import N_
from app.web.views import ViewState, capture_update, session_view

OPS = ("forward", "backward", "update", "step", "epoch", "train", "reset", "play", "pause",
       "undo", "redo")
TIMELINE = 8  # recent steps shown beside Back / Forward

env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
i18n.install(env)
env.filters["num"] = num


def nbsp(text: str) -> str:
    """Glue short formulas together so a line never breaks inside "η = 0.1" or "[0, 1)"."""
    text = re.sub(r"(\S) = (\S)", "\\1\u00a0=\u00a0\\2", text)
    return re.sub(r"([\[(][^\s\])]*,) ([^\s\])]*[\])])", "\\1\u00a0\\2", text)


env.filters["nbsp"] = nbsp
router = APIRouter(include_in_schema=False)


def install(app: FastAPI, settings: Settings) -> None:
    # app.web.experiment's router (it uses this module's helpers) is included by app.main,
    # right after this: importing it here would be an import cycle.
    app.include_router(router)
    app.include_router(play_tick.router)
    # HTML, CSS and JS compressed (Starlette leaves text/event-stream alone). Level 6: the
    # 190 KB spiral page gzips in 7 ms to 21 KB; level 9 took 9.5 ms for 20 KB.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    # Pages get HTML error pages; /api (and the docs, health and static files) keep JSON.
    for exc_type in (StarletteHTTPException, SessionBusy, StoreUnavailable, CursorError,
                     PageTooLarge):
        api_handler = app.exception_handlers.get(exc_type)
        if api_handler is not None:
            app.add_exception_handler(exc_type, _html_errors(api_handler))


PAGE_TOO_LARGE = (N_("Too large to draw"),
                  N_("This network's page would be larger than the server's reply budget "
                     "(setting {setting}): the diagram draws every connection. Use the JSON API "
                     "for this session, or create a network with fewer or narrower layers."))
NOT_PAGES = ("/api", "/healthz", "/openapi", "/docs", "/redoc", "/static")
ERROR_TITLES = {
    404: (N_("Page not found"), N_("There is no page at this address.")),
    405: (N_("This address does not take that request"),
          N_("The page exists, but not for this kind of request. Open it from a link or a "
             "button instead.")),
    409: (N_("That step is not next"),
          N_("The network is at a different step. Reload the page to see where it stands.")),
    413: (N_("Too much data"), N_("The request was larger than the server accepts.")),
    503: (N_("The server is busy"),
          N_("Another request is using this session, or the store is not reachable. Try again "
             "in a moment.")),
}


def _html_errors(api_handler: Any) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, exc: Exception) -> Response:
        r: Response = await api_handler(request, exc)
        if request.url.path.startswith(NOT_PAGES):
            return r
        status = r.status_code
        ctx = base_ctx(request)
        title, text = ERROR_TITLES.get(status, (N_("Something went wrong"),
                                                N_("The request could not be completed.")))
        if isinstance(exc, PageTooLarge):
            title, text = PAGE_TOO_LARGE
        ctx.update(status=status, title=title, text=text, setting="max_reply_bytes")
        headers = {k: v for k, v in r.headers.items() if k.lower() in ("allow", "retry-after")}
        return HTMLResponse(render("error.html", ctx), status_code=status, headers=headers)
    return handle


# --- helpers --------------------------------------------------------------------------------
def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def store_of(request: Request) -> SessionStore:
    return request.app.state.store  # type: ignore[no-any-return]


def is_htmx(request: Request) -> bool:
    return (request.headers.get("hx-request") == "true"
            and request.headers.get("hx-history-restore-request") != "true")


def lang_of(request: Request) -> str:
    return i18n.negotiate(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                          request.headers.get("accept-language"))


def base_ctx(request: Request) -> dict[str, Any]:
    lang = lang_of(request)
    q = {k: v for k, v in request.query_params.items() if k not in ("lang", "projector", "msg")}
    here = request.url.path + ("?" + urlencode(q) if q else "")
    sep = "&" if "?" in here else "?"
    projector = request.query_params.get("projector", request.cookies.get("projector")) == "1"
    return {"lang": lang, "languages": i18n.LANGUAGES, "here": here,
            "option_labels": forms.OPTION_LABELS, "reg_kinds": forms.REG_KINDS,
            "hidden_choices": forms.HIDDEN, "swap": False,
            "announce": "",
            "lang_links": {code: f"{here}{sep}lang={code}" for code in i18n.LANGUAGES},
            "projector": projector,
            "projector_link": f"{here}{sep}projector={'0' if projector else '1'}",
            "presets": PRESETS, "message": None, "error": None, "oob": False}


def respond(request: Request, html: str, status: int = 200,
            headers: dict[str, str] | None = None) -> HTMLResponse:
    r = HTMLResponse(html, status_code=status, headers=headers)
    remember(request, r)
    return r


def remember(request: Request, r: Response) -> None:
    """?lang= and ?projector= are remembered in cookies."""
    year = 365 * 24 * 3600
    lang = request.query_params.get("lang")
    if lang in i18n.LANGUAGES:
        r.set_cookie(i18n.COOKIE, lang, max_age=year, samesite="lax", httponly=True)
    proj = request.query_params.get("projector")
    if proj in ("0", "1"):
        r.set_cookie("projector", proj, max_age=year, samesite="lax", httponly=True)


def render(name: str, ctx: dict[str, Any], block: str | None = None) -> str:
    if block is not None:
        return render_block(env, name, block, ctx)
    return env.get_template(name).render(ctx)


def not_found(request: Request) -> HTMLResponse:
    return respond(request, render("notfound.html", base_ctx(request)), 404)


PHASES = {"forward": N_("forward"), "backward": N_("backward"), "update": N_("update")}


def message(code: str | None, _: Callable[[str], str],
            ngettext: Callable[[str, str, int], str]) -> str | None:
    """A message code (from an operation or ?msg=) as one translated sentence."""
    if not code:
        return None
    kind, _sep, rest = code.partition(":")
    if kind == "cursor" and rest in PHASES:
        return _("That step is not next: the next step is “{phase}”.").format(
            phase=_(PHASES[rest]))
    if kind == "nothing":
        return _("Nothing to undo.") if rest == "undo" else _("Nothing to redo.")
    if kind == "trained":
        ran_s, _sep, stopped = rest.partition(":")
        ran = int(ran_s) if ran_s.isdigit() else 0
        if stopped == "time_budget":
            text = ngettext(
                "Trained {n} epoch, then stopped: the time budget of one call was reached.",
                "Trained {n} epochs, then stopped: the time budget of one call was reached.",
                ran)
        elif stopped == "diverged":
            text = ngettext(
                "Trained {n} epoch. The next step would diverge, so training stopped.",
                "Trained {n} epochs. The next step would diverge, so training stopped.", ran)
        else:
            text = ngettext("Trained {n} epoch.", "Trained {n} epochs.", ran)
        return text.format(n=ran)
    return None


def error_text(lang: str, e: ConfigError | ValidationError) -> str:
    """A rejected form, in the page's language (page_errors maps the API's English errors)."""
    _ = i18n.gettext_for(lang)
    return " ".join(pe.render(_) for pe in page_errors.page_errors(e))


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


# --- landing page -----------------------------------------------------------------------------
def index_ctx(request: Request, form: forms.NetworkForm, error: str | None) -> dict[str, Any]:
    s = settings_of(request)
    ctx = base_ctx(request)
    ctx.update(form=form, error=error, output_choices=forms.OUTPUT,
               loss_choices=forms.LOSSES, schemes=forms.SCHEMES, reg_kinds=forms.REG_KINDS,
               dataset_choices=datasets.NAMES, generated=datasets.GENERATED,
               reductions=forms.REDUCTIONS,
               max_neurons=s.max_neurons, max_hidden=s.max_layers - 2)
    return ctx


def refused(request: Request, e: RateLimited | StoreFull) -> HTMLResponse:
    """A page, not JSON, when a new session is refused: too many from this client (429) or
    every session at the cap in active use (503); both say when to retry."""
    _ = i18n.gettext_for(lang_of(request))
    limited = isinstance(e, RateLimited)
    text = (_("Too many new sessions from this address. Try again in {s} seconds.")
            if limited else
            _("Every session on the server is in use. Try again in {s} seconds."))
    ctx = index_ctx(request, forms.NetworkForm(), text.format(s=e.retry_after))
    status = 429 if limited else 503
    return respond(request, render("index.html", ctx), status,
                   headers={"Retry-After": str(e.retry_after)})


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    return respond(request, render("index.html", index_ctx(request, forms.NetworkForm(), None)))


async def create(request: Request, cfg: SessionConfig) -> str:
    settings = settings_of(request)
    await check_creation(request)
    normalized = normalize(cfg, settings)
    try:  # a network created from the pages must be drawable within the reply budget
        check_page(normalized, settings.max_reply_bytes)
    except PageTooLarge as e:
        raise ConfigError(("layers",), str(e)) from None
    session = await run_in_threadpool(Session.create, normalized, settings)
    await store_of(request).add(session)
    return session.id


@router.post("/", response_class=HTMLResponse)
async def index_post(request: Request) -> Response:
    settings = settings_of(request)
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    nf = forms.NetworkForm.from_form(form, settings)
    action = form.one("action", "start")
    if action != "start":
        nf.apply(action, settings)
        ctx = index_ctx(request, nf, None)
        if is_htmx(request):
            return respond(request, render("index.html", ctx, "custom"))
        return respond(request, render("index.html", ctx))
    try:
        sid = await create(request, SessionConfig.model_validate(nf.to_config(form)))
    except (ConfigError, ValidationError) as e:
        ctx = index_ctx(request, nf, error_text(lang_of(request), e))
        return respond(request, render("index.html", ctx), 422)
    except (RateLimited, StoreFull) as e:
        return refused(request, e)
    return RedirectResponse(f"/s/{sid}", status_code=303)


@router.get("/new")
async def new(request: Request, preset: str = "seed-xor", c: str | None = None) -> Response:
    """A new session from a preset, or from a setup link (``c``: GET /api/v1/…/link)."""
    try:
        if c is not None:
            settings = settings_of(request)
            if len(c) > 4 * links.MAX_URL:
                raise ConfigError(("c",), "the setup link is too long")
            normalized = links.config_from_link(c, settings)
            try:
                check_page(normalized, settings.max_reply_bytes)
            except PageTooLarge as e:
                raise ConfigError(("c",), str(e)) from None
            await check_creation(request)
            session = await run_in_threadpool(Session.create, normalized, settings)
            await store_of(request).add(session)
            sid = session.id
        else:
            sid = await create(request, SessionConfig(preset=preset))
    except (ConfigError, ValidationError) as e:
        ctx = index_ctx(request, forms.NetworkForm(), error_text(lang_of(request), e))
        return respond(request, render("index.html", ctx), 422)
    except (RateLimited, StoreFull) as e:
        return refused(request, e)
    r = RedirectResponse(f"/s/{sid}", status_code=303)
    remember(request, r)
    return r


# --- the session page ---------------------------------------------------------------------------
def door_of(request: Request) -> Door:
    return request.app.state.door  # type: ignore[no-any-return]


def result_code(name: str, outcome: Outcome[Any]) -> str | None:
    """The flash message of an operation's outcome, as a code (see ``message``)."""
    if isinstance(outcome.error, CursorError):
        return f"cursor:{outcome.error.phase}"
    if isinstance(outcome.error, NothingToUndo):
        return f"nothing:{outcome.error.direction}"
    if outcome.error is not None:
        return "invalid"
    if name == "train" and outcome.error is None:
        ran, stopped = outcome.result
        return f"trained:{ran}:{stopped or ''}"
    return None


async def session_html(request: Request, sid: str, vs: ViewState, name: str = "state",
                       args: tuple[Any, ...] = (), *, block: str | None = None,
                       error: str | None = None, capture: bool = False,
                       expected: tuple[type[Exception], ...] = (CursorError,),
                       ) -> tuple[str, str | None, float]:
    """Through the door: operation ``name``, then the page (or one block of it) rendered under
    the same lock. Returns (html, message code, render ms)."""
    ctx = base_ctx(request)
    _ = i18n.gettext_for(ctx["lang"])
    settings = settings_of(request)
    select = False

    def view(s: Session, outcome: Outcome[Any]) -> tuple[str, str | None, float]:
        nonlocal select
        code = result_code(name, outcome)
        t0 = time.perf_counter()
        ctx.update(session_view(s, settings, vs, _, outcome.before, ctx["projector"]))
        ctx.update(share=share.share_ctx(request, s), timeline=s.undo.timeline(TIMELINE))
        # Watchers see the teacher's inspector: remember a new selection (below).
        select = s.watch_id is not None and s.view_sel != vs.sel
        ctx["message"] = message(code or request.query_params.get("msg"), _,
                                 i18n.ngettext_for(ctx["lang"]))
        err = outcome.error
        ctx["error"] = (error_text(lang_of(request), err)
                        if isinstance(err, (ConfigError, ValidationError)) else error)
        ctx["announce"] = announcement(ctx, _, name != "state" or capture)
        ctx["swap"] = block is not None
        html = render("session.html", ctx, block)
        return html, code, (time.perf_counter() - t0) * 1000

    def before(s: Session) -> Any:
        check_page(s.config, settings.max_reply_bytes)  # 413 before anything changes
        return capture_update(s, vs.sel) if capture else None

    door = door_of(request)
    out: tuple[str, str | None, float] = await door.apply(
        sid, name, *args, view=view, expected=expected, before=before)
    if select:
        await door.apply(sid, "select", vs.sel)
    return out


@router.get("/s/{sid}", response_class=HTMLResponse)
async def session_page(request: Request, sid: str) -> Response:
    vs = ViewState.parse(request.query_params)
    try:
        html, _code, ms = await session_html(request, sid, vs,
                                             block="workspace" if is_htmx(request) else None)
    except SessionNotFound:
        return not_found(request)
    # Server-Timing: the time to build the view and render it (benchmarks/page_render.py).
    return respond(request, html, headers={"Server-Timing": f"render;dur={ms:.2f}"})


def operation(name: str, form: forms.Form, settings: Settings, vs: ViewState, htmx: bool
              ) -> tuple[str, tuple[Any, ...]] | None:
    """The door's operation (and its arguments) for a toolbar button."""
    if name in ("undo", "redo"):  # the timeline jumps several steps at once
        steps = forms.as_int(form, "steps", ("steps",), 1) or 1
        if not 1 <= steps <= settings.undo_depth:
            raise ConfigError(("steps",), f"steps must be 1 to {settings.undo_depth}")
        return name, (steps,)
    if name in ("forward", "backward", "update", "step"):
        return name, ()
    if name == "reset":
        return "reset", ()
    if name in ("epoch", "train") or (name == "play" and not htmx):
        epochs = 1 if name == "epoch" else vs.n if name == "play" else forms.as_int(
            form, "epochs", ("epochs",), 100)
        assert epochs is not None
        service.check_epochs(epochs, settings)
        return "train", (epochs,)
    return None  # play (with htmx) and pause only change what the page shows


@router.post("/s/{sid}/do", response_class=HTMLResponse)
async def do(request: Request, sid: str) -> Response:
    settings = settings_of(request)
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    vs = ViewState.parse({**request.query_params, **{k: v[0] for k, v in form.items()}})
    name = form.one("op")
    if name not in OPS:
        name = "step"
    htmx = is_htmx(request)
    vs = ViewState(vs.sel, vs.log, name == "play" and htmx, vs.n)
    error = None
    try:
        op = operation(name, form, settings, vs, htmx)
    except ConfigError as e:
        op, error = None, error_text(lang_of(request), e)
    op_name, args = op or ("state", ())
    try:
        html, code, _ms = await session_html(request, sid, vs, op_name, args,
                                             block="workspace" if htmx else None,
                                             error=error, capture=name == "update",
                                             expected=(CursorError, NothingToUndo))
    except SessionNotFound:
        return not_found(request)
    if htmx:
        return respond(request, html, 422 if error else 200)
    if error:
        return respond(request, html, 422)
    query = vs.query()
    if code:
        query += ("&" if query else "?") + urlencode({"msg": code})
    return RedirectResponse(f"/s/{sid}{query}", status_code=303)


@router.post("/s/{sid}/settings", response_class=HTMLResponse)
async def change_settings(request: Request, sid: str) -> Response:
    settings = settings_of(request)
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    vs = ViewState.parse({**request.query_params, **{k: v[0] for k, v in form.items()}})
    htmx = is_htmx(request)
    block = "workspace" if htmx else None
    try:
        # The regularization fields merge into the session's own (service.patch).
        changes = forms.settings_changes(form, {"regularization": {}})
        html, code, _ms = await session_html(request, sid, vs, "patch", (changes,),
                                              block=block,
                                              expected=(ConfigError, ValidationError))
    except ConfigError as e:  # a field that is not even a number
        try:
            html, _code, _ms = await session_html(request, sid, vs, block=block,
                                                  error=error_text(lang_of(request), e))
        except SessionNotFound:
            return not_found(request)
        return respond(request, html, 422)
    except SessionNotFound:
        return not_found(request)
    if code == "invalid":  # the session is unchanged; the page says why
        return respond(request, html, 422)
    if htmx:
        return respond(request, html)
    return RedirectResponse(f"/s/{sid}{vs.query()}", status_code=303)


@router.post("/s/{sid}/tick", response_class=HTMLResponse)
async def tick(request: Request, sid: str) -> Response:
    """One Play tick: its own module (app/web/tick.py) trains within the tick budget and sends
    only the regions that changed."""
    return await play_tick.tick(request, sid, render, base_ctx, settings_of(request),
                                door_of(request), respond, TIMELINE)
