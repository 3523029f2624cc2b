"""View-models of the session page: everything the templates show, computed under the
session's lock from one SessionState (the dict the JSON API returns) plus the heatmap.

One module: every region's view-model is built from the same SessionState under one lock,
by session_view and the small helpers beside it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypedDict, Unpack
from urllib.parse import urlencode

import numpy as np

from app.config import Settings
from app.nn import features as feats
from app.nn.activations import Array
from app.sessions.model import Session, raw_data
from app.sessions.state import CursorState, SessionState, metrics, session_state
from app.web import charts, diagram, formulas, heatcache, heatmaps
from app.web.fmt import num, signed

TABLE_MAX = 32
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
        v = replace(self, **changes)
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
    """Before an update: the selected weight or bias and its gradient, so the inspector can
    show old → new afterwards."""
    t = s.trainer
    if t.trace is None or sel is None:
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

    try:
        kind, *idx = sel.split("-")
        nums = [int(x) for x in idx]
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
    except (ValueError, IndexError):
        return None
    if not old:
        return None
    return {"old": old, "grad": grad, "lr": t.learning_rate, "m": moments["m"],
            "v": moments["v"], "t": opt.step + 1}


def session_view(s: Session, settings: Settings, vs: ViewState, _: Callable[[str], str],
                 last_update: formulas.LastUpdate | None = None, projector: bool = False,
                 base: str | None = None, live: bool = False) -> dict[str, object]:
    """``base``: the page's own path (the watch page's, so no link names the session).
    ``live``: a Play frame (app/web/tick.py): only what its lean templates show."""
    state = session_state(s, history=LIVE_CURVE_POINTS if live else charts.CURVE_POINTS,
                          default_max=settings.trace_default_max)
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

    if vs.play and state["layers"][0]["z"] is None:
        show_batch(s, state)
    # Without a selection the inspector only invites one; with one, Play shows it live too.
    insp = formulas.Builder(state, row, all_rows, _, last_update).build(vs.sel) \
        if vs.sel or not live else None
    L = len(cfg.layers) - 1
    raw = raw_points(s)
    maps = None
    if raw is not None:
        heatmaps.CACHE.size = settings.heatmap_cache
        maps = heatmaps.neuron_maps(s.trainer.net, cfg.features,
                                    heatmaps.domain_of(raw[0], raw[2]),
                                    grid=heatmaps.PLAY_GRID if vs.play else heatmaps.GRID,
                                    live=live)
    cursor = state["cursor"]
    dg = diagram.build(state, row, vs.sel, href, _, None if maps is None else maps.images,
                       projector, live)
    if maps is not None and live:
        dg.sprites, dg.sprite_grid = maps.sprites, heatmaps.PLAY_GRID
    return {
        "sid": s.id, "state": state, "cfg": cfg, "vs": vs, "base": base,
        "pipeline": [{**p, "text": chip_text(p["label"], _)}
                     for p in pipeline(L, cursor["next"], cursor["layer"])],
        "next_text": next_text(cursor, _),
        "diagram": dg,
        "inspector": insp,
        "maps": maps,
        "inspector_heat": inspector_heat(maps, vs.sel),
        "data": data_panel(s, state, row, all_rows, focus_pos, raw, live),
        "raw_points": raw,  # the input plane's points (Play frames link to their image)
        "curve": charts.loss_curve(state["history"], vs.log),
        "grad_chart": charts.grad_norm_chart(state["history"]),
        "feature_names": feats.NAMES, "feature_symbols": feats.SYMBOLS,
        "experiment_datasets": EXPERIMENT_DATASETS,
        "speeds": PLAY_SPEEDS,
        "loss_text": num(state["loss"], 6),
        "focus_pos": focus_pos,
        "max_epochs": settings.max_epochs,
        "readonly": False,  # the watch page: no controls
    }


RawPoints = tuple[Array, Array, Array | None, Array | None]
EXPERIMENT_DATASETS = ("xor", "and", "or", "circle", "xor_scatter", "gauss", "spiral", "plane",
                       "multi_gauss")


def show_batch(s: Session, state: SessionState) -> None:
    """During Play no pass is in progress (training runs whole epochs): fill the state's
    z, a, δ and gradients with a forward and backward pass over the current batch at the
    current weights, for the page only, so the mechanics stay visible. The session is
    unchanged."""
    t = s.trainer
    idx = t.batch_indices()
    X, Y = t.data.X[idx], t.data.Y[idx]
    rows = state["batch"]["positions"]
    with np.errstate(all="ignore"):
        zs, acts = t.net.forward(X)
        deltas, gWs, gbs = t.net.backward(zs, acts, Y)
    if not all(np.isfinite(g).all() for g in gWs):
        return
    for l, layer in enumerate(state["layers"]):
        layer["z"] = zs[l][rows].tolist()
        layer["a"] = acts[l + 1][rows].tolist()
        layer["delta"] = deltas[l][rows].tolist()
        layer["grad_W"] = gWs[l].tolist()
        gb = gbs[l]
        layer["grad_b"] = None if gb is None else gb.tolist()


def raw_points(s: Session) -> RawPoints | None:
    """(X, Y, X_test, Y_test) in the input plane's own coordinates, for 2-D data; else None."""
    fs = s.config.features
    d = s.trainer.data
    if feats.is_default(fs):
        if d.X.shape[1] != 2:
            return None
        return d.X, d.Y, d.X_test, d.Y_test
    r, _task = raw_data(s.config)
    return r.X, r.Y, r.X_test, r.Y_test


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


def focus_values(state: SessionState, row: int | None) -> str:
    """The focus sample's inputs and target, e.g. "x₁ = 1, x₂ = 0, y = 1"."""
    if row is None:
        return ""
    x, y = state["batch"]["X"][row], state["batch"]["Y"][row]
    fs = state["config"].features
    names = [feats.SYMBOLS.get(f, f) for f in fs] if len(fs) == len(x) else [
        f"x{diagram._sub(j + 1)}" for j in range(len(x))]
    parts = [f"{n}\u00a0=\u00a0{num(v)}" for n, v in zip(names, x, strict=True)]
    ys = ["y" if len(y) == 1 else f"y{diagram._sub(k + 1)}" for k in range(len(y))]
    parts += [f"{n}\u00a0=\u00a0{num(v)}" for n, v in zip(ys, y, strict=True)]
    return ", ".join(parts)


def split_metrics(s: Session) -> dict[str, str | None]:
    """Accuracy (classification) or MSE (regression) over the whole training and test sets at
    the current weights, not over the last batch."""
    t = s.trainer
    out: dict[str, str | None] = {"train": None, "test": None}
    for key, X, Y in (("train", t.data.X, t.data.Y), ("test", t.data.X_test, t.data.Y_test)):
        if X is None or Y is None or len(X) == 0:
            continue
        with np.errstate(all="ignore"):
            m = metrics(t.net.predict(X), Y, s.task)
        if s.task == "classification" and m["accuracy"] is not None:
            out[key] = f"{m['accuracy'] * 100:.1f}\u00a0%"  # NBSP: never "50.0 |%"
        elif m["mse"] is not None:
            out[key] = num(m["mse"])
    return out


def data_panel(s: Session, state: SessionState, row: int | None, all_rows: bool,
               focus_pos: int, raw: RawPoints | None = None, live: bool = False
               ) -> dict[str, object]:
    """``live``: Play frames show the plot and the counts, not the batch table."""
    t = s.trainer
    batch = state["batch"]
    X, Y = batch["X"], batch["Y"]
    fresh = state["output"] is None
    out, ell = state["output"], state["per_sample_loss"]
    if fresh and not live:  # no forward pass yet: what the current weights predict
        idx = np.array(batch["indices"], dtype=np.int64)
        with np.errstate(all="ignore"):
            zs, acts = t.net.forward(t.data.X[idx])
            out = acts[-1].tolist()
            ell = t.net.per_sample_loss(acts[-1], t.data.Y[idx], zs[-1]).tolist()
    rows = []
    for k, p in enumerate([] if live else batch["positions"]):
        rows.append({
            "pos": p, "index": batch["indices"][k],
            "x": [num(v) for v in X[k]], "y": [num(v) for v in Y[k]],
            "y_hat": [num(v) for v in out[k]] if out is not None else [],
            "loss": num(ell[k]) if ell is not None else "—",
            "focus": p == focus_pos,
        })
    heat = None
    if raw is not None:
        heat = heatcache.heatmap(t.net, raw, list(state["config"].features),
                                 state["config"].output_activation, s.task, live)
    m = state["metrics"]
    split = {"train": None, "test": None} if live else split_metrics(s)
    return {
        "split": split,
        "rows": rows if len(rows) <= TABLE_MAX else rows[:1],
        "table": all_rows and len(rows) <= TABLE_MAX,
        "fresh": fresh,
        "size": batch["size"],
        "n_train": len(t.data.X),
        "n_test": 0 if t.data.X_test is None else len(t.data.X_test),
        "inputs": len(X[0]) if X else 0,
        "outputs": len(Y[0]) if Y else 0,
        "heat": heat,
        "mse": num(m["mse"]), "accuracy": None if m["accuracy"] is None else
        f"{m['accuracy'] * 100:.1f}\u00a0%",
        "focus_index": batch["indices"][row] if row is not None else None,
        "focus_values": focus_values(state, row),
        "signed": signed,
    }
