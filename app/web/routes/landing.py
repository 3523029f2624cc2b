"""The pages that start a session: the landing page (presets and the custom-network form with
its +/− buttons), /new (a preset, or a setup link's ``c``) and /open (a lesson file). Each
creates the session and redirects to its page; a refusal is the landing page again, saying
why, in the page's language."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.config import Settings
from app.deps import DoorDep, SettingsDep, check_creation
from app.nn import datasets
from app.sessions import links
from app.sessions.commands import Create, Import, drawable
from app.sessions.config import ConfigError, SessionConfig
from app.sessions.documents import ExportDocument
from app.sessions.door import Door
from app.sessions.limits import RateLimited
from app.sessions.store import StoreFull
from app.web.infra import forms, i18n
from app.web.infra.page_errors import error_text
from app.web.infra.templating import base_ctx, is_htmx, lang_of, remember, render, respond
from app.web.views import compare_setup

router = APIRouter(include_in_schema=False)


def index_ctx(request: Request, settings: Settings, form: forms.NetworkForm,
              error: str | None) -> dict[str, Any]:
    ctx = base_ctx(request)
    ctx.update(form=form, error=error, hidden_choices=forms.HIDDEN, output_choices=forms.OUTPUT,
               loss_choices=forms.LOSSES, schemes=forms.SCHEMES, reg_kinds=forms.REG_KINDS,
               dataset_choices=datasets.NAMES, generated=datasets.GENERATED,
               reductions=forms.REDUCTIONS,
               max_neurons=settings.max_neurons, max_hidden=settings.max_layers - 2,
               comparisons=compare_setup.ready_made(settings))
    return ctx


def landing(request: Request, settings: Settings, error: str, status: int = 422,
            headers: dict[str, str] | None = None) -> HTMLResponse:
    """The landing page with a fresh form and why the last attempt failed."""
    ctx = index_ctx(request, settings, forms.NetworkForm(), error)
    return respond(request, render("index.html", ctx), status, headers=headers)


def refused(request: Request, settings: Settings, e: RateLimited | StoreFull) -> HTMLResponse:
    """A page, not JSON, when a new session is refused: too many from this client (429) or
    every session at the cap in active use (503); both say when to retry."""
    _ = i18n.gettext_for(lang_of(request))
    limited = isinstance(e, RateLimited)
    text = (_("Too many new sessions from this address. Try again in {s} seconds.")
            if limited else
            _("Every session on the server is in use. Try again in {s} seconds."))
    return landing(request, settings, text.format(s=e.retry_after), 429 if limited else 503,
                   headers={"Retry-After": str(e.retry_after)})


async def create(request: Request, door: Door, cfg: SessionConfig) -> str:
    """A new session from the form's or a preset's config; its id. The client's creation
    count is checked first (a refused config counts, as on the API)."""
    return await door.create(Create(cfg, drawable="layers"),
                             admit=partial(check_creation, request))


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, settings: SettingsDep) -> HTMLResponse:
    ctx = index_ctx(request, settings, forms.NetworkForm(), None)
    return respond(request, render("index.html", ctx))


@router.post("/", response_class=HTMLResponse)
async def index_post(request: Request, settings: SettingsDep, door: DoorDep) -> Response:
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    nf = forms.NetworkForm.from_form(form, settings)
    action = form.one("action", "start")
    if action != "start":
        nf.apply(action, settings)
        ctx = index_ctx(request, settings, nf, None)
        return respond(request, render("index.html", ctx, "custom" if is_htmx(request) else None))
    try:
        sid = await create(request, door, SessionConfig.model_validate(nf.to_config(form)))
    except (ConfigError, ValidationError) as e:
        ctx = index_ctx(request, settings, nf, error_text(lang_of(request), e))
        return respond(request, render("index.html", ctx), 422)
    except (RateLimited, StoreFull) as e:
        return refused(request, settings, e)
    return RedirectResponse(f"/s/{sid}", status_code=303)


@router.get("/new")
async def new(request: Request, settings: SettingsDep, door: DoorDep,
              preset: str = "seed-xor", c: str | None = None) -> Response:
    """A new session from a preset, or from a setup link (``c``: GET /api/v1/…/link)."""
    try:
        if c is not None:
            if len(c) > 4 * links.MAX_URL:
                raise ConfigError(("c",), "the setup link is too long")
            normalized = drawable(links.config_from_link(c, settings), settings, "c")
            sid = await door.create(Create(normalized), admit=partial(check_creation, request))
        else:
            sid = await create(request, door, SessionConfig(preset=preset))
    except (ConfigError, ValidationError) as e:
        return landing(request, settings, error_text(lang_of(request), e))
    except (RateLimited, StoreFull) as e:
        return refused(request, settings, e)
    r = RedirectResponse(f"/s/{sid}", status_code=303)
    remember(request, r)
    return r


@router.post("/open", response_class=HTMLResponse)
async def open_lesson(request: Request, settings: SettingsDep, door: DoorDep) -> Response:
    """Open a lesson file (the export JSON), pasted or read from a file by the page's script."""
    form = forms.Form.parse(await request.body())
    try:
        # The API's document model, parsed by pydantic's own JSON reader (bounded nesting):
        # the importer only ever sees a document of the right shape.
        try:
            doc = ExportDocument.model_validate_json(form.one("lesson") or "null")
        except ValidationError as e:
            err = e.errors()[0]
            loc = tuple(str(p) for p in err["loc"])
            raise ConfigError(("lesson", *loc), "not a lesson file (the JSON of Download "
                              f"lesson file): {'.'.join(loc) or 'the document'}: "
                              f"{err['msg']}") from None
        sid = await door.create(Import(doc.model_dump()), admit=partial(check_creation, request))
    except ConfigError as e:
        return landing(request, settings, e.msg)
    except (ValueError, KeyError, TypeError):  # (a gap in the importer's checks: never a 500)
        return landing(request, settings, "not a lesson file (the JSON of Download lesson file)")
    except (RateLimited, StoreFull) as e:
        return refused(request, settings, e)
    return RedirectResponse(f"/s/{sid}", status_code=303)
