"""Errors shown on a page, in the page's language. The API keeps its English ``detail``; a page
turns each error into a code with parameters (``PageError``) and renders it through the
catalogue: a ConfigError by its field and the shape of its message, a pydantic error by its
``type`` (greater_than, int_parsing, …) and ``ctx``. Anything unrecognised still gets a
translated sentence naming the field, never the English text. ``install`` gives the pages an
HTML error page (404, 405, 409, 413, 503, …) where the API answers JSON; an unknown session is
the page that says sessions expire."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.nn.kernel_slot import KernelUnavailable, KernelWarming
from app.nn.stepper import CursorError
from app.sessions.budget import PageTooLarge
from app.sessions.config import ConfigError
from app.sessions.store import (
    MemoryBudgetFull,
    SessionBusy,
    SessionNotFound,
    StoreFull,
    StoreUnavailable,
)
from app.web.infra import i18n
from app.web.infra.templating import base_ctx, render, respond


def N_(message: str) -> str:
    """Marks a message for extraction; translated when rendered."""
    return message


# The field of an error (its loc without list indices), as the page labels it.
FIELDS: dict[str, str] = {
    "learning_rate": N_("Learning rate η"),
    "batch_size": N_("Batch size"),
    "regularization": N_("Regularization"),
    "regularization.kind": N_("Regularization"),
    "regularization.rate": N_("Regularization strength λ"),
    "init": N_("Initial weights"),
    "init.scheme": N_("Scheme"),
    "init.seed": N_("Seed"),
    "init.low": N_("low (uniform)"),
    "init.high": N_("high (uniform)"),
    "init.std": N_("std (normal)"),
    "init.bias": N_("Initial bias"),
    "dataset": N_("Dataset"),
    "dataset.name": N_("Dataset"),
    "dataset.samples": N_("Samples"),
    "dataset.noise": N_("Noise"),
    "dataset.test_ratio": N_("Test share"),
    "dataset.seed": N_("Data seed"),
    "epochs": N_("Epochs"),
    "focus": N_("Focus sample"),
    "layers": N_("Layers"),
    "hidden_activation": N_("Hidden activation"),
    "output_activation": N_("Output activation"),
    "loss": N_("Loss function"),
    "reduction": N_("Loss reduction"),
    "bias": N_("Biases"),
    "train_bias": N_("Train biases"),
    "preset": N_("Network"),
    "features": N_("Input features"),
    "x1": "x₁",
    "x2": "x₂",
    "y": N_("Class or target"),
    "dataset.extra": N_("Added points"),
}

# Every code and its message; {field} is the translated field label.
MESSAGES: dict[str, str] = {
    # Never the submitted text: an error message does not echo what was typed.
    "not_a_number": N_("{field} is not a number."),
    "not_an_integer": N_("{field} is not a whole number."),
    "range": N_("{field} must be from {low} to {high}; got {got}."),
    "range_no_got": N_("{field} must be from {low} to {high}."),
    "range_open_low": N_("{field} must be greater than {low} and at most {high}; got {got}."),
    "at_most": N_("{field} must be at most {high}."),
    "at_most_got": N_("{field} must be at most {high}; got {got}."),
    "at_least": N_("{field} must be at least {low}."),
    "greater_than": N_("{field} must be greater than {low}."),
    "less_than": N_("{field} must be less than {high}."),
    "finite": N_("{field} must be a finite number."),
    "finite_limit": N_("{field}: values must be finite, with magnitude at most {high}."),
    "choice": N_("{field}: choose one of the listed options."),
    "missing": N_("{field} is required."),
    "boolean": N_("{field} must be on or off."),
    "too_long": N_("{field} is too long: at most {high} characters."),
    "page_too_large": N_("This network is too large to draw on a page (the reply budget, "
                         "setting {setting}): use fewer or narrower layers, or fewer samples."),
    "loss_needs_sigmoid": N_("Binary cross-entropy needs the sigmoid output activation."),
    "loss_needs_softmax": N_("Cross-entropy needs the softmax output activation."),
    "softmax_outputs": N_("Softmax needs at least 2 outputs."),
    "low_below_high": N_("Uniform initial weights need low < high."),
    "layer_count": N_("A network has {low} to {high} layers, input and output included; "
                      "got {got}."),
    "focus_range": N_("Focus sample must be a sample number from 1 to {high}; got {got}."),
    "dataset_targets": N_("This dataset has 1 target: the output layer needs 1 neuron (or 2 "
                          "with softmax, for a classification set)."),
    "dataset_inputs": N_("This dataset has 2 inputs: the input layer needs 2 neurons."),
    "invalid": N_("{field}: this value is not allowed."),
    "features_count": N_("The input layer needs one neuron per input feature ({high}); got "
                         "{got}."),
    "features_empty": N_("Choose at least one input feature, each once."),
    "class_label": N_("{field} must be 0 or 1 for a classification set."),
}

_NUM = r"(-?[\d.]+(?:e[+-]?\d+)?)"
# (field, message pattern) -> (code, names of the groups); the first match wins.
PATTERNS: list[tuple[str | None, re.Pattern[str], str, tuple[str, ...]]] = [
    (None, re.compile(r"must be a number"), "not_a_number", ()),
    (None, re.compile(r"must be a whole number"), "not_an_integer", ()),
    (None, re.compile(r"over the reply budget"), "page_too_large", ()),
    ("epochs", re.compile(rf"must be 1 to {_NUM}; got {_NUM}"), "range", ("high", "got")),
    ("learning_rate", re.compile(rf"must be in \(0, {_NUM}\]; got {_NUM}"), "range_open_low",
     ("high", "got")),
    ("regularization.rate", re.compile(rf"must be in \[0, {_NUM}\]"), "range_no_got",
     ("high",)),
    ("loss", re.compile(r"needs output_activation 'sigmoid'"), "loss_needs_sigmoid", ()),
    ("loss", re.compile(r"needs output_activation 'softmax'"), "loss_needs_softmax", ()),
    ("output_activation", re.compile(r"softmax needs at least 2"), "softmax_outputs", ()),
    ("init.high", re.compile(r"needs low < high"), "low_below_high", ()),
    (None, re.compile(rf"must be ≤ {_NUM}"), "at_most", ("high",)),
    ("batch_size", re.compile(r"must be ≥ 1"), "at_least", ()),
    (None, re.compile(rf"at most {_NUM} samples; got {_NUM}"), "at_most_got", ("high", "got")),
    ("focus", re.compile(rf"sample index 0\.\.{_NUM} .*got {_NUM}"), "focus_range",
     ("high", "got")),
    ("layers", re.compile(rf"1 to {_NUM} neurons; got {_NUM}"), "range", ("high", "got")),
    ("layers", re.compile(r"has 1 target"), "dataset_targets", ()),
    ("layers", re.compile(r"has 2 inputs"), "dataset_inputs", ()),
    ("layers", re.compile(rf"must have {_NUM} to {_NUM} entries.*got {_NUM}"), "layer_count",
     ("low", "high", "got")),
    (None, re.compile(rf"finite with \|v\| ≤ {_NUM}"), "finite_limit", ("high",)),
    ("features", re.compile(rf"number of features \({_NUM}:.*got {_NUM}"), "features_count",
     ("high", "got")),
    ("features", re.compile(r"non-empty list without repeats"), "features_empty", ()),
    ("y", re.compile(r"must be 0 or 1"), "class_label", ()),
]
DEFAULT_LOW = {"range": "1", "range_no_got": "0", "range_open_low": "0", "at_least": "1"}

# pydantic's error types -> (code, which ctx values fill low/high)
PYDANTIC: dict[str, tuple[str, str | None, str | None]] = {
    "greater_than": ("greater_than", "gt", None),
    "greater_than_equal": ("at_least", "ge", None),
    "less_than": ("less_than", None, "lt"),
    "less_than_equal": ("at_most", None, "le"),
    "int_type": ("not_an_integer", None, None),
    "int_parsing": ("not_an_integer", None, None),
    "int_from_float": ("not_an_integer", None, None),
    "float_type": ("not_a_number", None, None),
    "float_parsing": ("not_a_number", None, None),
    "finite_number": ("finite", None, None),
    "bool_type": ("boolean", None, None),
    "bool_parsing": ("boolean", None, None),
    "literal_error": ("choice", None, None),
    "enum": ("choice", None, None),
    "missing": ("missing", None, None),
    "string_too_long": ("too_long", None, "max_length"),
}


@dataclass(frozen=True)
class PageError:
    code: str
    loc: tuple[str, ...] = ()
    params: dict[str, object] = field(default_factory=dict)  # the message's {names}

    def render(self, _: Callable[[str], str]) -> str:
        label = FIELDS.get(".".join(self.loc)) or FIELDS.get(self.loc[0] if self.loc else "")
        shown = dict(self.params)
        if self.code == "focus_range":  # the engine counts samples from 0, the page from 1
            shown = {k: int(float(str(v))) + 1 for k, v in shown.items()
                     if k in ("high", "got")}
        params = {"low": "", "high": "", "got": "", "setting": "max_reply_bytes",
                  **{k: _number(v) for k, v in shown.items()},
                  "field": _(label) if label else _("This value")}
        return _(MESSAGES.get(self.code, MESSAGES["invalid"])).format(**params)


def _number(v: object) -> object:
    """0.0 -> 0, 1e+06 stays: limits read like the form's own numbers."""
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str):
        try:
            return f"{float(v):g}" if re.fullmatch(r"-?[\d.]+(e[+-]?\d+)?", v) else v
        except ValueError:
            return v
    return v


def _loc(parts: Any) -> tuple[str, ...]:
    return tuple(str(p) for p in parts if not isinstance(p, int) and not str(p).isdigit()
                 and str(p) not in ("body", "query"))


def from_config_error(e: ConfigError) -> PageError:
    loc = _loc(e.path)
    dotted = ".".join(loc)
    for where, pattern, code, names in PATTERNS:
        if where is not None and where != dotted:
            continue
        m = pattern.search(e.msg)
        if m:
            params: dict[str, object] = dict(zip(names, m.groups(), strict=False))
            if "low" not in params and code in DEFAULT_LOW:
                params["low"] = DEFAULT_LOW[code]
            return PageError(code, loc, params)
    return PageError("invalid", loc)


def from_validation_error(e: ValidationError) -> list[PageError]:
    out = []
    for err in e.errors():
        loc = _loc(err.get("loc", ()))
        code, low, high = PYDANTIC.get(str(err.get("type")), ("invalid", None, None))
        ctx = err.get("ctx") or {}
        params: dict[str, object] = {"low": ctx.get(low, "") if low else "",
                                     "high": ctx.get(high, "") if high else "", "got": ""}
        out.append(PageError(code, loc, params))
    return out


def page_errors(e: ConfigError | ValidationError) -> list[PageError]:
    if isinstance(e, ConfigError):
        return [from_config_error(e)]
    return from_validation_error(e)



def error_text(lang: str, e: ConfigError | ValidationError) -> str:
    """A rejected form as one paragraph in the page's language."""
    _ = i18n.gettext_for(lang)
    return " ".join(pe.render(_) for pe in page_errors(e))


# --- HTML error pages -------------------------------------------------------------------------
PAGE_TOO_LARGE = (N_("Too large to draw"),
                  N_("This network's page would be larger than the server's reply budget "
                     "(setting {setting}): the diagram draws every connection. Use the JSON API "
                     "for this session, or create a network with fewer or narrower layers."))
STORE_FULL = (N_("The server is busy"),
              N_("Every session on the server is in use. Try again in {s} seconds."))
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
# What the API answers as JSON and a page as HTML (the status and Retry-After are the API's).
HTML_ON_PAGES = (StarletteHTTPException, SessionNotFound, SessionBusy, StoreUnavailable,
                 StoreFull, MemoryBudgetFull, CursorError, PageTooLarge, KernelWarming,
                 KernelUnavailable)
ApiHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def not_found(request: Request) -> HTMLResponse:
    """The page for a session that does not exist (any more)."""
    return respond(request, render("notfound.html", base_ctx(request)), 404)


def install(app: FastAPI) -> None:
    """Wrap the API's handlers (app/api/errors.py): on a page, the same status as a page."""
    for exc_type in HTML_ON_PAGES:
        api_handler = app.exception_handlers.get(exc_type)
        if api_handler is not None:
            app.add_exception_handler(exc_type, _html_errors(api_handler))


def _html_errors(api_handler: ApiHandler) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        reply = api_handler(request, exc)
        r = await reply if isinstance(reply, Awaitable) else reply
        if request.url.path.startswith(NOT_PAGES):
            return r
        if isinstance(exc, SessionNotFound):  # expired or evicted: say so, offer a new one
            return not_found(request)
        status = r.status_code
        ctx = base_ctx(request)
        title, text = ERROR_TITLES.get(status, (N_("Something went wrong"),
                                                N_("The request could not be completed.")))
        if isinstance(exc, PageTooLarge):
            title, text = PAGE_TOO_LARGE
        elif isinstance(exc, StoreFull):
            title, text = STORE_FULL
        ctx.update(status=status, title=title, text=text, setting="max_reply_bytes",
                   retry_after=r.headers.get("retry-after", ""))
        headers = {k: v for k, v in r.headers.items() if k.lower() in ("allow", "retry-after")}
        return HTMLResponse(render("error.html", ctx), status_code=status, headers=headers)
    return handle


CROSS_SITE = (N_("Refused: a change from another site"),
              N_("This change came from a page on another site, so it was not applied. Open "
                 "the session from this server's own pages and try again."))


def cross_site_page(request: Request, status: int) -> str:
    """The page app/csrf.py answers a refused cross-site change with."""
    ctx = base_ctx(request)
    title, text = CROSS_SITE
    ctx.update(status=status, title=title, text=text, setting="", retry_after="")
    return render("error.html", ctx)
