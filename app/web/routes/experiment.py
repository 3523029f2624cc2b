"""Changing the experiment from the session page: layers (+/−), activation, input features and
the data; and adding a point by clicking the data plot. Changes that need new weights build a
new config and re-initialise the session in place (same id); an added point keeps the weights.
Errors are shown next to their field, in the page's language."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.config import Settings
from app.deps import DoorDep, SettingsDep
from app.nn import datasets
from app.nn import features as feats
from app.sessions.budget import check_page
from app.sessions.commands import AddPoint, Command, Reconfigure, State
from app.sessions.config import ConfigError, SessionConfig, normalize
from app.sessions.door import Door, Outcome
from app.sessions.model import Session
from app.sessions.normalized import GeneratedData, InlineData, NormalizedConfig
from app.sessions.render_budget import page_cost
from app.web.infra import forms, i18n, page_errors
from app.web.infra.templating import base_ctx, is_htmx, lang_of, render, respond
from app.web.routes import polls
from app.web.routes.session import TIMELINE, announcement
from app.web.views import share
from app.web.views.session import ViewState, session_view

router = APIRouter(include_in_schema=False)
DATASETS = (*datasets.TRUTH_TABLES, *datasets.GENERATED)


def hidden_sizes(form: forms.Form, config: NormalizedConfig, settings: Settings) -> list[int]:
    """The hidden layers after the form's +/− action ('inc:K', 'dec:K', 'add', 'remove')."""
    hidden = list(config.layers[1:-1])
    verb, _sep, arg = form.one("action").partition(":")
    k = forms.small_int(arg, len(hidden))
    if verb in ("inc", "dec") and k is not None:
        hidden[k] = max(1, min(settings.max_neurons, hidden[k] + (1 if verb == "inc" else -1)))
    elif verb == "add" and len(hidden) + 2 < settings.max_layers:
        hidden.append(hidden[-1] if hidden else 4)
    elif verb == "remove" and hidden:
        hidden.pop()
    return hidden


def new_config(form: forms.Form, config: NormalizedConfig, settings: Settings
               ) -> dict[str, object]:
    """The session's config with the form's changes, in the API's input shape."""
    cfg: dict[str, object] = {k: v for k, v in config.to_dict().items()
                              if k not in ("preset", "weights")}
    hidden = hidden_sizes(form, config, settings)
    if form.one("hidden_activation"):
        cfg["hidden_activation"] = form.one("hidden_activation")
    two_d = is_two_d(config)
    features = list(config.features)
    if two_d and "has_features" in form:
        features = [f for f in feats.NAMES if f in form.get("features", [])]
        cfg["features"] = features
    n_in = len(features) if two_d else config.layers[0]
    cfg["layers"] = [max(n_in, 1), *hidden, config.layers[-1]]
    ds: dict[str, object] = dict(config.dataset.to_dict())
    name = form.one("dataset", config.dataset.name)
    # (the generator's values stay only while the data set does)
    same = config.dataset if name == config.dataset.name else None
    if same is None:
        ds = {"name": name}
        if name not in datasets.GENERATED:
            cfg["features"] = features or list(feats.DEFAULT)
    if name in datasets.GENERATED:
        gen = same if isinstance(same, GeneratedData) else None
        ds["noise"] = forms.as_float(form, "noise", ("dataset", "noise"),
                                     None if gen is None else gen.noise)
        ds["test_ratio"] = forms.as_float(form, "test_ratio", ("dataset", "test_ratio"),
                                          None if gen is None else gen.test_ratio)
        ds["seed"] = forms.as_int(form, "data_seed", ("dataset", "seed"),
                                  None if gen is None else gen.seed)
    elif name == "inline":
        ds = {k: v for k, v in ds.items() if v is not None}
    cfg["dataset"] = {k: v for k, v in ds.items() if v is not None}
    return cfg


def is_two_d(config: NormalizedConfig) -> bool:
    """Whether the raw inputs are points of the plane (features apply)."""
    d = config.dataset
    if not isinstance(d, InlineData):
        return True
    return bool(d.X) and len(d.X[0]) == 2


def field_errors(lang: str, e: ConfigError | ValidationError) -> dict[str, str]:
    """Translated messages by field ("layers", "features", "dataset.noise", …)."""
    _ = i18n.gettext_for(lang)
    out: dict[str, str] = {}
    for pe in page_errors.page_errors(e):
        key = ".".join(pe.loc[:2]) if pe.loc[:1] == ("dataset",) else (
            pe.loc[0] if pe.loc else "form")
        out.setdefault(key, pe.render(_))
    return out


async def _render(request: Request, settings: Settings, door: Door, sid: str, vs: ViewState,
                  command: Command[Any], errors: dict[str, str]) -> str:
    """``command`` through the door (undoable, versioned, seen by watchers), then the
    page with each error next to its field."""
    ctx = base_ctx(request)
    _ = i18n.gettext_for(ctx["lang"])
    poll_panel = await polls.panel_data(request, sid)

    def view(s: Session, outcome: Outcome[Any]) -> str:
        if isinstance(outcome.error, (ConfigError, ValidationError)):
            errors.update(field_errors(ctx["lang"], outcome.error))
        ctx.update(session_view(s, settings, vs, _, None, ctx["projector"]))
        ctx.update(polls.page_ctx(request, s, vs, ctx["focus_pos"], poll_panel, _))
        ctx.update(share=share.share_ctx(request, s, settings.public_base_url),
                   timeline=s.undo.timeline(TIMELINE))
        ctx["message"] = None
        ctx["field_errors"] = errors
        ctx["error"] = " ".join(errors.values()) or None
        ctx["announce"] = announcement(ctx, _, True)
        ctx["swap"] = True
        return render("session.html", ctx, "workspace" if is_htmx(request) else None)

    return await door.apply(
        sid, command, view=view, expected=(ConfigError, ValidationError),
        before=lambda s: check_page(s.config, settings.max_reply_bytes),
        cost=lambda s: page_cost(s.config))


async def _respond(request: Request, settings: Settings, door: Door, sid: str, vs: ViewState,
                   command: Command[Any]) -> Response:
    errors: dict[str, str] = {}
    html = await _render(request, settings, door, sid, vs, command, errors)
    if errors:
        return respond(request, html, 422)
    if is_htmx(request):
        return respond(request, html)
    return RedirectResponse(f"/s/{sid}{vs.query()}", status_code=303)


@router.post("/s/{sid}/experiment", response_class=HTMLResponse)
async def change_experiment(request: Request, sid: str, settings: SettingsDep,
                            door: DoorDep) -> Response:
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    vs = ViewState.parse(request.query_params)
    vs = ViewState(None, vs.log, False, vs.n)  # the old selection may not exist any more

    def build(config: NormalizedConfig) -> NormalizedConfig:
        cfg = new_config(form, config, settings)
        normalized = normalize(SessionConfig.model_validate(cfg), settings)
        check_page(normalized, settings.max_reply_bytes)
        return normalized

    return await _respond(request, settings, door, sid, vs, Reconfigure(build))


@router.post("/s/{sid}/point", response_class=HTMLResponse)
async def add_point(request: Request, sid: str, settings: SettingsDep,
                    door: DoorDep) -> Response:
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    vs = ViewState.parse(request.query_params)
    vs = ViewState(vs.sel, vs.log, False, vs.n)
    try:
        x1 = forms.as_float(form, "x1", ("x1",))
        x2 = forms.as_float(form, "x2", ("x2",))
        y = forms.as_float(form, "y", ("y",))
        if x1 is None or x2 is None or y is None:
            raise ConfigError(("y",) if y is None else ("x1",), "missing")
    except ConfigError as e:  # not even numbers: the page says which field, nothing changes
        errors = field_errors(lang_of(request), e)
        html = await _render(request, settings, door, sid, vs, State(), errors)
        return respond(request, html, 422)
    return await _respond(request, settings, door, sid, vs, AddPoint(x1, x2, y))
