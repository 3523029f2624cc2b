"""The Jinja environment and what every page route needs to answer with HTML: the language and
the context every template reads (``base_ctx``), rendering a page or one block of it
(jinja2-fragments), and the response that remembers ?lang= and ?projector= in cookies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from jinja2_fragments import render_block

from app.resources import TEMPLATES
from app.sessions.config import PRESETS
from app.web.drawing import charts, diagram, diagram_svg
from app.web.infra import forms, i18n, typeset
from app.web.infra.fmt import num
from app.web.views import session as views

# auto_reload off: templates do not change under a running server, and checking each file's
# mtime on every render was a stat() per template per Play frame.
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, auto_reload=False,
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
i18n.install(env)
env.filters["num"] = num
env.filters["grid_svg"] = charts.grid_svg
env.filters["epoch_axes_svg"] = charts.epoch_axes_svg
env.globals["clickable"] = diagram.clickable
env.globals["nodes_svg"] = diagram_svg.nodes_svg


@pass_context
def step_text(ctx: Context, label: str) -> str:
    """The undo timeline's name of a step, in the page's language (views.step_text)."""
    return views.step_text(label, i18n.gettext_for(ctx.get("lang", i18n.DEFAULT)))


env.globals["step_text"] = step_text


def nbsp(text: str) -> str:
    """Glue short formulas together so a line never breaks inside "η = 0.1" or "[0, 1)"."""
    text = re.sub(r"(\S) = (\S)", "\\1\u00a0=\u00a0\\2", text)
    return re.sub(r"([\[(][^\s\])]*,) ([^\s\])]*[\])])", "\\1\u00a0\\2", text)


env.filters["nbsp"] = nbsp
env.filters["grouped"] = views.grouped
env.filters["glue"] = typeset.glue  # "deep-relu" never breaks after its hyphen


def render(name: str, ctx: Mapping[str, object], block: str | None = None) -> str:
    """The template ``name``, or only its ``block`` (an htmx swap of one region)."""
    if block is not None:
        return render_block(env, name, block, ctx)
    return env.get_template(name).render(ctx)


def is_htmx(request: Request) -> bool:
    return (request.headers.get("hx-request") == "true"
            and request.headers.get("hx-history-restore-request") != "true")


def lang_of(request: Request) -> str:
    return i18n.negotiate(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                          request.headers.get("accept-language"))


def site_path(path: str) -> str:
    """A request's path as a link within this site: percent-encoded, one leading slash. The
    raw path of ``GET /%2F%2Fevil.example`` is "//evil.example", which as an href is another
    site (issue #23); "/\\evil.example" is the same to browsers."""
    return "/" + quote(path.lstrip("/\\"), safe="/-._~!$&'()*+,;=:@")


def base_ctx(request: Request) -> dict[str, Any]:
    """What base.html and every page read: the language and its links, projector mode, the
    option labels and presets; pages add their own."""
    lang = lang_of(request)
    q = {k: v for k, v in request.query_params.items() if k not in ("lang", "projector", "msg")}
    here = site_path(request.scope["path"]) + ("?" + urlencode(q) if q else "")
    sep = "&" if "?" in here else "?"
    projector = request.query_params.get("projector", request.cookies.get("projector")) == "1"
    return {"lang": lang, "languages": i18n.LANGUAGES, "here": here,
            "option_labels": forms.OPTION_LABELS, "reg_kinds": forms.REG_KINDS,
            "hidden_choices": forms.HIDDEN, "swap": False, "optimizers": forms.OPTIMIZERS,
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
