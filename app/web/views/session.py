"""View-models of the session page: everything the templates show, computed under the
session's lock from one SessionState (the dict the JSON API returns), the render's engine
pass (app/web/views/passes.py: at most one forward and one backward) and the heatmaps.

session_view gathers every region; the data panel's is app/web/views/data_panel.py."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypedDict, Unpack
from urllib.parse import urlencode

import numpy as np

from app.config import Settings
from app.nn import features as feats
from app.sessions.model import Session
from app.sessions.state import CursorState, SessionState, decimate_array, session_state
from app.web.drawing import charts, diagram, diagram_live, heatmaps, lecture
from app.web.infra.fmt import fixed, num
from app.web.inspector import formulas
from app.web.views.data_panel import RawPoints, data_panel, raw_points
from app.web.views.passes import Computed

# The data panel moved to app/web/views/data_panel.py; tick.py imports raw_points from here.
__all__ = ["RawPoints", "ViewState", "capture_update", "raw_points", "session_view", "show_batch"]

LOSS_FORMULAS = {("squared_error", "sum"): "½Σ(ŷ−y)²", ("squared_error", "mean"): "(1/N)Σ½(ŷ−y)²"}
LIVE_CURVE_POINTS = 100  # the charts while playing: a third of the points and bytes
PLAY_SPEEDS = (1, 10, 100, 1000)


class ViewChanges(TypedDict, total=False):
    sel: str | None
    log: bool
    play: bool
    n: int


@dataclass(frozen=True)
class ViewState:
    """What the URL carries besides the session: selection, log scale, playing, speed."""

    sel: str | None = None
    log: bool = False
    play: bool = False
    n: int = 10

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ViewState:
        sel = params.get("sel") or None
        if sel is not None and (len(sel) > 24 or not all(c.isalnum() or c == "-" for c in sel)):
            sel = None
        try:
            n = int(params.get("n") or 10)
        except ValueError:
            n = 10
        return cls(sel, params.get("log") in ("1", "on", "true"),
                   params.get("play") in ("1", "on", "true"), n if n in PLAY_SPEEDS else 10)

    def query(self, **changes: Unpack[ViewChanges]) -> str:
        # Pages and Play frames ask for the same few queries again and again.
        return _query(replace(self, **changes) if changes else self)


@functools.lru_cache(maxsize=1024)
def _query(v: ViewState) -> str:
    q: dict[str, str | int] = {}
    if v.sel:
        q["sel"] = v.sel
    if v.log:
        q["log"] = 1
    if v.play:
        q["play"] = 1
    if v.n != 10:
        q["n"] = v.n
    return ("?" + urlencode(q)) if q else ""


def grouped(timeline: list[dict[str, object]]) -> list[dict[str, object]]:
    """The undo timeline with runs of one operation on one side of the current state as one
    chip ("Play ×8"): its ``count``, and the ``jump`` to the state after the run's last step
    (0 when that is the current state)."""
    out: list[dict[str, object]] = []
    for t in timeline:
        last = out[-1] if out else None
        if (last is not None and last["label"] == t["label"] and last["past"] == t["past"]
                and last["jump"] != 0):
            last["jump"], last["count"] = t["jump"], int(str(last["count"])) + 1
        else:
            out.append({**t, "count": 1})
    return out


def N_(message: str) -> str:
    return message


PHASES = {"forward": N_("forward"), "backward": N_("backward"), "update": N_("update")}


def chip_text(label: str, _: Callable[[str], str]) -> str:
    """A pipeline chip: F1 … (forward layer k), loss, B2 … (backward layer k), update."""
    if label == "loss":
        return _("loss")
    if label == "update":
        return _("update")
    k = label[1:]
    return (_("F{k}") if label[0] == "F" else _("B{k}")).format(k=k)


def step_text(label: str, _: Callable[[str], str]) -> str:
    """An undo-timeline step named like its pipeline chip (F2 → "forward 2" in Korean) when it
    is one layer's forward or backward step; any other operation keeps its label."""
    if re.fullmatch(r"[FB]\d+", label) or label in ("loss", "update"):
        return chip_text(label, _)
    return label


def next_text(cursor: CursorState, _: Callable[[str], str]) -> str:
    phase = _(PHASES.get(cursor["next"], N_("update")))
    if cursor.get("layer"):
        return _("{phase} {layer}").format(phase=phase, layer=cursor["layer"])
    return phase


def pipeline(L: int, phase: str, layer: int | None) -> list[dict[str, str]]:
    steps = [f"F{k}" for k in range(1, L + 1)] + ["loss"] + \
        [f"B{k}" for k in range(L, 0, -1)] + ["update"]
    if phase == "forward":
        cur = f"F{layer}"
    elif phase == "backward":
        cur = f"B{layer}"
    else:
        cur = "update"
    i = steps.index(cur)
    return [{"label": s, "state": "done" if k < i else "current" if k == i else "todo"}
            for k, s in enumerate(steps)]


def capture_update(s: Session, sel: str | None) -> formulas.LastUpdate | None:
    """Before an update: the weights and biases and their gradients, so the inspector and the
    lecture diagram can show old → new afterwards. Every parameter of a lesson-sized network
    (the lecture diagram shows each one), else only the selected weight or bias."""
    t = s.trainer
    if t.trace is None:
        return None
    old: dict[formulas.ParamKey, float] = {}
    grad: dict[formulas.ParamKey, float] = {}
    moments: dict[str, dict[formulas.ParamKey, float]] = {"m": {}, "v": {}}
    opt = t.opt_state
    assert opt is not None
    L = t.net.spec.L

    def keep(key: formulas.ParamKey, index: int, at: tuple[int, ...]) -> None:
        """The moments of parameter array ``index`` (W₁…W_L, b₁…b_L) at ``at``."""
        for name, arrays in (("m", opt.m), ("v", opt.v)):
            if arrays is not None:
                moments[name][key] = float(arrays[index][at])

    keys: list[tuple[str, list[int]]] = []
    if max(s.config.layers) <= lecture.MAX_NEURONS:
        for l in range(1, len(s.config.layers)):
            keys += [("w", [l, i, j]) for i in range(s.config.layers[l - 1])
                     for j in range(s.config.layers[l])]
            keys += [("b", [l, j]) for j in range(s.config.layers[l])]
    elif sel is not None:
        kind, *idx = sel.split("-")
        try:
            keys.append((kind, [int(x) for x in idx]))
        except ValueError:
            return None
    for kind, nums in keys:
        try:
            if kind == "w" and len(nums) == 3:
                l, i, j = nums
                g = t.trace.grad_W[l - 1]
                if g is not None:
                    old[("W", l, i, j)] = float(t.net.W[l - 1][i, j])
                    grad[("W", l, i, j)] = float(g[i, j])
                    keep(("W", l, i, j), l - 1, (i, j))
            elif kind == "b" and len(nums) == 2 and t.net.b is not None:
                l, j = nums
                gb = t.trace.grad_b[l - 1]
                if gb is not None:
                    old[("b", l, j)] = float(t.net.b[l - 1][j])
                    grad[("b", l, j)] = float(gb[j])
                    keep(("b", l, j), L + l - 1, (j,))
        except IndexError:
            return None
    if not old:
        return None
    return {"old": old, "grad": grad, "lr": t.learning_rate, "m": moments["m"],
            "v": moments["v"], "t": opt.step + 1}


def session_view(s: Session, settings: Settings, vs: ViewState, _: Callable[[str], str],
                 last_update: formulas.LastUpdate | None = None, projector: bool = False,
                 base: str | None = None, live: bool = False) -> dict[str, object]:
    """``base``: the page's own path (the watch page's, so no link names the session).
    ``live``: a Play frame (app/web/routes/tick.py): only what its lean templates show."""
    # The charts read the history's lists below (no dict per point): the state carries none.
    state = session_state(s, history=0, default_max=settings.trace_default_max)
    cfg = state["config"]
    batch = state["batch"]
    size = int(batch["size"])
    positions: list[int] = batch["positions"]
    all_rows = len(positions) == size
    focus_pos = min(s.focus, size - 1)
    row = positions.index(focus_pos) if focus_pos in positions else None
    base = base or f"/s/{s.id}"

    rest = vs.query(sel=None)
    plain = base + rest
    joiner = base + (rest + "&sel=" if rest else "?sel=")

    def href(sel: str) -> str:  # selecting the selected element again deselects it
        return plain if vs.sel == sel else joiner + sel

    computed = Computed(s, whole_sets=not live)  # the engine's work for this render, once
    if vs.play and state["layers"][0]["z"] is None:
        show_batch(s, state, computed)
    # Without a selection the inspector only invites one; with one, Play shows it live too.
    insp = formulas.Builder(state, row, all_rows, _, last_update).build(vs.sel) \
        if vs.sel or not live else None
    L = len(cfg.layers) - 1
    # The charts: the history's columns (arrays kept beside its lists, extended by the points
    # added since the last frame) at the decimated points.
    epochs, losses, tests, norms = s.trainer.history.columns(s.trainer.net.spec.L)
    keep = decimate_array(len(epochs), LIVE_CURVE_POINTS if live else charts.CURVE_POINTS)
    raw = raw_points(s)
    maps = None
    if raw is not None:
        heatmaps.CACHE.size = settings.heatmap_cache
        maps = heatmaps.neuron_maps(s.trainer.net, cfg.features,
                                    heatmaps.domain_of(raw[0], raw[2]),
                                    grid=heatmaps.PLAY_GRID if vs.play else heatmaps.GRID,
                                    live=live)
    cursor = state["cursor"]
    dg: diagram.Diagram | lecture.Lecture | diagram_live.LiveDiagram
    if projector and lecture.fits(tuple(cfg.layers), bool(cfg.bias)):
        # The lecture layout: every number as text; the same drawing while Play runs.
        dg = lecture.build(state, row, vs.sel, href, _,
                           None if last_update is None else last_update["old"])
    elif live:  # a Play frame: drawn from the numbers with the layout's plan
        dg = diagram_live.draw(state, row, vs.sel, _, maps, projector)
    else:
        dg = diagram.build(state, row, vs.sel, href, _,
                           None if maps is None else maps.images, projector, False,
                           None if last_update is None else last_update["old"])
    return {
        "sid": s.id, "state": state, "cfg": cfg, "vs": vs, "base": base,
        "pipeline": [{**p, "text": chip_text(p["label"], _)}
                     for p in pipeline(L, cursor["next"], cursor["layer"])],
        "next_text": next_text(cursor, _),
        "diagram": dg,
        # Right after an update: the flow sentence, and old → new on the weights.
        "updated": last_update is not None and bool(last_update["old"]),
        "learning_rate": num(float(cfg.learning_rate)),
        "inspector": insp,
        "maps": maps,
        "inspector_heat": inspector_heat(maps, vs.sel),
        "data": data_panel(s, state, computed, row, all_rows, focus_pos, raw, live),
        "raw_points": raw,  # the input plane's points (Play frames link to their image)
        "curve": charts.loss_curve_columns(epochs[keep], losses[keep], tests[keep], vs.log),
        "grad_chart": charts.grad_norm_chart_columns(epochs[keep], norms[keep]),
        "feature_names": feats.NAMES, "feature_symbols": feats.SYMBOLS,
        "experiment_datasets": EXPERIMENT_DATASETS,
        "speeds": PLAY_SPEEDS,
        "loss_text": fixed(state["loss"], 6),
        # The objective as a formula and, for squared error, the mean the lesson prints.
        "loss_formula": LOSS_FORMULAS.get((cfg.loss, cfg.reduction), ""),
        "mse_text": fixed(state["metrics"]["mse"], 6) if cfg.loss == "squared_error" and
        state["loss"] is not None else "",
        "focus_pos": focus_pos,
        "max_epochs": settings.max_epochs,
        "readonly": False,  # the watch page: no controls
    }


EXPERIMENT_DATASETS = ("xor", "and", "or", "circle", "xor_scatter", "gauss", "spiral", "plane",
                       "multi_gauss")


def show_batch(s: Session, state: SessionState, computed: Computed | None = None) -> None:
    """During Play no pass is in progress (training runs whole epochs): fill the state's
    z, a, δ and gradients with the render's forward and backward pass over the current batch
    at the current weights, for the page only, so the mechanics stay visible. The session is
    unchanged."""
    computed = Computed(s, whole_sets=False) if computed is None else computed
    grads = computed.gradients()
    if grads is None:
        return
    b = computed.batch()
    rows = np.asarray(state["batch"]["positions"], dtype=np.int64)  # converted once, not per use
    for l, layer in enumerate(state["layers"]):
        layer["z"] = b.zs[l][rows].tolist()
        layer["a"] = b.acts[l + 1][rows].tolist()
        layer["delta"] = grads.deltas[l][rows].tolist()
        layer["grad_W"] = grads.grad_W[l].tolist()
        gb = grads.grad_b[l]
        layer["grad_b"] = None if gb is None else gb.tolist()


def inspector_heat(maps: heatmaps.NeuronMaps | None, sel: str | None
                   ) -> dict[str, object] | None:
    """The selected neuron's heatmap, drawn large in the inspector."""
    if maps is None or sel is None or not sel.startswith("n-"):
        return None
    try:
        l, j = (int(x) for x in sel[2:].split("-"))
        image = maps.image(l, j)
    except (ValueError, IndexError):
        return None
    L = len(maps.images) - 1
    scale = maps.output if l == L else maps.hidden
    lo, hi = (-maps.input_max[j], maps.input_max[j]) if l == 0 else (scale.lo, scale.hi)
    return {"image": image, "layer": l, "j": j, "lo": num(lo, 3), "hi": num(hi, 3),
            "domain": [num(v, 3) for v in maps.domain]}
