"""Class polls on the pages: the teacher's poll panel on the session page (ask about the
selected value, the live count, Reveal, the histogram, the list of polls) and the students'
poll region on the watch page (the answer form; polls.js sends the answer with the browser's
token and shows each student their own result). The work is app/sessions/poll_service.py's,
as for the JSON API."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NotRequired

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from typing_extensions import TypedDict

from app.deps import PollsDep, SettingsDep
from app.sessions import polls
from app.sessions.model import Session
from app.sessions.poll_service import PollService
from app.sessions.poll_store import Poll, PollNotFound
from app.sessions.polls import (
    CountBin,
    PollConflict,
    PollError,
    PublicPoll,
    Quantity,
    QuantityDocument,
    RangeBin,
    TeacherPoll,
)
from app.sessions.store_base import SessionNotFound
from app.web.infra import forms, i18n
from app.web.infra.fmt import num
from app.web.infra.templating import base_ctx, lang_of, render
from app.web.infra.typeset import glue
from app.web.views.session import ViewState

router = APIRouter(include_in_schema=False)
Gettext = Callable[[str], str]
DIGITS = 6
# Bar chart geometry (SVG user units; CSS scales it).
CHART_W, CHART_H, BASE_Y = 320, 150, 120


# What the templates read (partials/poll_*.html).
class Bar(TypedDict):
    x: float
    w: float
    y: float
    h: float
    count: int
    label: str
    ok: bool
    cx: float


class PollChart(TypedDict):
    bars: list[Bar]
    truth_x: float | None
    w: int
    h: int
    base: int
    numeric: bool
    range: tuple[str, str] | None


class PollRow(TypedDict):
    id: str
    prompt: str
    kind: str
    status: str
    answers: int | None
    share: str
    csv: str


class PollResult(TypedDict):
    poll: TeacherPoll
    chart: PollChart | None
    truth: str
    right: str
    share: str
    correct: int
    answers: int
    tolerance: str


class PollPanel(TypedDict):
    open: Poll | None
    count: int
    result: PollResult | None
    rows: list[PollRow]
    options: list[Option]
    watch_id: str | None


class PagePolls(TypedDict):
    polls: PollPanel
    poll_message: str | None


class StudentPanel(TypedDict):
    poll: PublicPoll | None
    watch_id: str
    answer_url: NotRequired[str]  # from here on: when there is a poll
    result_url: NotRequired[str]
    truth: NotRequired[str]
    right: NotRequired[str]
    tolerance: NotRequired[str]
_rendered: OrderedDict[tuple[Any, ...], str] = OrderedDict()  # student regions, per poll state


@dataclass
class Option:
    """One value of the selection the class can be asked about."""

    value: str  # the form's field: "z|1|0,2"
    label: str
    prompts: dict[str, str]  # kind → default prompt
    kinds: list[str] = field(default_factory=lambda: ["number", "sign"])


def _prompts(_: Gettext, q: Quantity, row_label: str | None) -> dict[str, str]:
    l = q.layer or 0
    j = (q.index[-1] + 1) if q.index else 0
    i = (q.index[0] + 1) if q.index else 0
    number = {
        "z": _("What will z (the weighted sum) of neuron {j} in layer {l} be?"),
        "a": _("What will a (the activation) of neuron {j} in layer {l} be?"),
        "delta": _("What will δ of neuron {j} in layer {l} be?"),
        "grad_W": _("What will ∂L/∂w be for the weight from neuron {i} to neuron {j} of "
                    "layer {l}?"),
        "grad_b": _("What will ∂L/∂b of neuron {j} in layer {l} be?"),
        "W": _("What will the weight from neuron {i} to neuron {j} of layer {l} be after "
               "the update?"),
        "b": _("What will the bias of neuron {j} in layer {l} be after the update?"),
        "loss": _("What will the loss of this pass be?"),
    }[q.field].format(i=i, j=j, l=l)
    sign = _("Positive, negative or zero? {question}").format(question=number)
    out = {"number": number, "sign": sign}
    if row_label is not None:
        out["choice"] = _("Which neuron of layer {l} will get the largest |{what}|?").format(
            l=l, what=row_label)
    return out


def options(s: Session, sel: str | None, focus_pos: int, _: Gettext) -> list[Option]:
    """What the teacher can ask about the selected element: its values the next steps have
    not computed yet (z, a, δ of a neuron for the focus sample; ∂L/∂w and w after the update
    of a weight; the same for a bias; the loss)."""
    t = s.trainer
    found: list[tuple[Quantity, str, str | None]] = []
    try:
        if sel == "loss":
            found.append((Quantity("loss"), _("the loss"), None))
        elif sel:
            kind, *idx = sel.split("-")
            nums = [int(x) for x in idx]
            if kind == "n" and len(nums) == 2 and nums[0] >= 1:
                l, j = nums
                for f, name in (("z", "z"), ("a", "a"), ("delta", "δ")):
                    found.append((Quantity(f, l, (focus_pos, j)), name, name))
            elif kind == "w" and len(nums) == 3:
                l, i, j = nums
                found += [(Quantity("grad_W", l, (i, j)), glue("∂L/∂w"), None),
                          (Quantity("W", l, (i, j)), _("w after the update"), None)]
            elif kind == "b" and len(nums) == 2:
                l, j = nums
                found += [(Quantity("grad_b", l, (j,)), glue("∂L/∂b"), None),
                          (Quantity("b", l, (j,)), _("b after the update"), None)]
    except ValueError:
        return []
    out = []
    for q, label, row in found:
        try:
            polls.check_quantity(t, q.to_dict(), "number")
        except PollError:
            continue
        if polls.computed(t, q):
            continue  # already on screen
        opt = Option(encode(q), label, _prompts(_, q, row))
        if row is not None:
            opt.kinds.append("choice")
        out.append(opt)
    return out


def encode(q: Quantity) -> str:
    return f"{q.field}|{q.layer or ''}|{','.join(str(i) for i in q.index)}"


def decode(text: str) -> QuantityDocument:
    try:
        f, layer, index = text.split("|")
        if f == "loss":
            return {"field": "loss", "layer": None, "index": None}
        return {"field": f, "layer": int(layer),
                "index": [int(i) for i in index.split(",")] if index else []}
    except ValueError:
        raise PollError(("quantity",), "choose a value to ask about") from None


# --- the histogram ----------------------------------------------------------------------------
def chart(poll: TeacherPoll, _: Gettext) -> PollChart | None:
    """The answers as SVG bars (numbers binned; signs and choices counted), the true value
    marked by a line and a label (never by colour alone) and the right bars patterned."""
    bins: list[CountBin | RangeBin] = [*poll["histogram"]]
    if not bins:
        return None
    top = max(b["count"] for b in bins) or 1
    width = CHART_W / len(bins)
    right = poll.get("right_answer")
    tol = float(poll["tolerance"])
    bars: list[Bar] = []
    for k, b in enumerate(bins):
        h = (BASE_Y - 16) * b["count"] / top
        if "answer" in b:
            label, ok = b["answer"], b["answer"] == right
        else:
            label = num(b["lo"], 3)
            ok = isinstance(right, float) and b["hi"] >= right - tol * abs(right) \
                and b["lo"] <= right + tol * abs(right)
        bars.append({"x": round(k * width + 2, 2), "w": round(width - 4, 2),
                     "y": round(BASE_Y - h, 2), "h": round(h, 2), "count": b["count"],
                     "label": label, "ok": ok, "cx": round(k * width + width / 2, 2)})
    truth_x = None
    first, last = bins[0], bins[-1]
    numeric = "lo" in first and "hi" in last  # (all bins are ranges, or none)
    if isinstance(right, float) and "lo" in first and "hi" in last:
        lo, hi = first["lo"], last["hi"]
        frac = 0.5 if not hi > lo else (right - lo) / (hi - lo)
        truth_x = round(min(max(frac, 0.0), 1.0) * CHART_W, 2)
    return {"bars": bars, "truth_x": truth_x, "w": CHART_W, "h": CHART_H, "base": BASE_Y,
            "numeric": numeric,
            "range": (num(first["lo"], 4), num(last["hi"], 4))
            if "lo" in first and "hi" in last else None}


def shown(v: Any) -> str:
    """A true value or an answer as the page prints it."""
    if isinstance(v, list):
        return ", ".join(num(float(x), DIGITS) for x in v)
    if isinstance(v, float | int) and not isinstance(v, bool):
        return num(float(v), DIGITS)
    return "—" if v is None else str(v)


def percent(part: int, whole: int) -> str:
    return "—" if not whole else f"{math.floor(100 * part / whole + 0.5)} %"


def teacher_ctx(s: Session, vs: ViewState, focus_pos: int, panel: tuple[
        list[Poll], int, TeacherPoll | None], _: Gettext) -> PollPanel:
    """The poll panel of the session page."""
    found, count, latest = panel
    open_poll = next((p for p in found if p["status"] != "revealed"), None)
    rows: list[PollRow] = []
    for p in reversed(found):
        tally = p.get("tally")
        rows.append({"id": p["poll_id"], "prompt": p["prompt"], "kind": p["kind"],
                     "status": p["status"],
                     "answers": tally["answers"] if tally else None,
                     "share": percent(tally["correct"], tally["answers"]) if tally else "—",
                     "csv": f"/api/v1/sessions/{s.id}/polls/{p['poll_id']}/answers.csv"})
    result: PollResult | None = None
    if latest is not None:
        result = {"poll": latest, "chart": chart(latest, _),
                  "truth": shown(latest.get("truth")),
                  "right": shown(latest.get("right_answer")),
                  "share": percent(latest.get("correct") or 0, latest["answers"]),
                  "correct": latest.get("correct") or 0, "answers": latest["answers"],
                  "tolerance": f"{float(latest['tolerance']) * 100:g} %"}
    return {"open": open_poll, "count": count, "result": result, "rows": rows,
            "options": [] if open_poll else options(s, vs.sel, focus_pos, _),
            "watch_id": s.watch_id}


async def panel_data(request: Request, sid: str
                     ) -> tuple[list[Poll], int, TeacherPoll | None]:
    """The poll panel's data, fetched before the session page is rendered under the lock."""
    service: PollService = request.app.state.polls
    return await service.panel(sid)


def page_ctx(request: Request, s: Session, vs: ViewState, focus_pos: int, panel: tuple[
        list[Poll], int, TeacherPoll | None], _: Gettext) -> PagePolls:
    """What the session page's poll panel reads (its context keys)."""
    return {"polls": teacher_ctx(s, vs, focus_pos, panel, _),
            "poll_message": message(request.query_params.get("pollmsg"), _)}


# --- the teacher's forms ------------------------------------------------------------------------
def _back(sid: str, vs: ViewState, msg: str | None = None) -> RedirectResponse:
    query = vs.query()
    if msg:
        query += ("&" if query else "?") + f"pollmsg={msg}"
    return RedirectResponse(f"/s/{sid}{query}#polls", status_code=303)


@router.post("/s/{sid}/polls")
async def ask(request: Request, sid: str, service: PollsDep, settings: SettingsDep
              ) -> Response:
    """"Ask the class": the form of the poll panel (no htmx needed)."""
    form = forms.Form.parse(await request.body(), settings.max_form_fields)
    vs = ViewState.parse({**request.query_params, **{k: v[0] for k, v in form.items()}})
    kind = form.one("kind") or "number"
    try:
        quantity = decode(form.one("quantity") or "")
        tol_text = (form.one("tolerance") or "1").replace(",", ".")
        try:
            tolerance = float(tol_text) / 100
        except ValueError:
            raise PollError(("tolerance",), "tolerance") from None
        if not math.isfinite(tolerance):
            raise PollError(("tolerance",), "tolerance")
        prompt = (form.one("prompt") or "").strip()
        if not prompt and kind in polls.KINDS:  # the default question, in the page's language
            q = Quantity.of(quantity)
            _ = i18n.gettext_for(lang_of(request))
            row = {"z": "z", "a": "a", "delta": "δ"}.get(q.field)
            prompt = _prompts(_, q, row).get(kind, "")
        await service.create(sid, quantity, kind, None, tolerance, prompt or None)
    except PollConflict as e:
        return _back(sid, vs, "open" if "open" in str(e) else "computed")
    except PollError as e:
        return _back(sid, vs, "tolerance" if e.field == ("tolerance",) else "invalid")
    return _back(sid, vs)


@router.post("/s/{sid}/polls/{pid}/reveal")
async def reveal(request: Request, sid: str, pid: str, service: PollsDep) -> Response:
    vs = ViewState.parse(request.query_params)
    try:
        await service.reveal(sid, pid)
    except (PollConflict, PollNotFound):
        return _back(sid, vs, "revealed")
    return _back(sid, vs)


def message(code: str | None, _: Gettext) -> str | None:
    return {
        "open": _("A poll is open already: reveal it before asking another."),
        "computed": _("That value is already computed in this pass: select one the next "
                      "steps compute."),
        "tolerance": _("The tolerance must be a percentage from 0 to 100."),
        "invalid": _("Choose a value and a kind of answer to ask the class."),
        "revealed": _("That poll is revealed already."),
    }.get(code or "")


# --- the students' region ------------------------------------------------------------------------
async def student_poll(service: PollsDep, watch_id: str) -> PublicPoll | None:
    try:
        sid = await service.session_of(watch_id)
    except SessionNotFound:
        return None
    return await service.current(sid)


def student_html(request: Request, watch_id: str, poll: PublicPoll | None,
                 oob: bool) -> str:
    """The poll region of the watch page (the same for every student: polls.js adds each
    student's own answer and result)."""
    ctx = base_ctx(request)
    key = (watch_id, ctx["lang"], oob, poll and (poll["poll_id"], poll["status"]))
    cached = _rendered.get(key)
    if cached is not None:
        return cached
    _ = i18n.gettext_for(ctx["lang"])
    ctx.update(student_ctx(watch_id, poll, _), oob=oob)
    html = render("partials/poll_student.html", ctx)
    _rendered[key] = html
    while len(_rendered) > 256:
        _rendered.popitem(last=False)
    return html


def student_ctx(watch_id: str, poll: PublicPoll | None, _: Gettext) -> StudentPanel:
    if poll is None:
        return {"poll": None, "watch_id": watch_id}
    base = f"/api/v1/watch/{watch_id}/polls/{poll['poll_id']}"
    return {"poll": poll, "watch_id": watch_id, "answer_url": base + "/answers",
            "result_url": base, "truth": shown(poll.get("truth")),
            "right": shown(poll.get("right_answer")),
            "tolerance": f"{float(poll['tolerance']) * 100:g} %"}
