"""The session operations: what both the JSON API and the HTML pages call. Each is a plain
function on a Session (run under the session's lock, off the event loop).

One module: the bodies of the door's operations (app/sessions/door.py) side by side, each
short, sharing the validation helpers; export and import are one format's two halves."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal, TypedDict, cast

import numpy as np
from pydantic import ValidationError

from app.config import Settings
from app.jsontypes import JSONObject
from app.nn import kernel_slot
from app.nn.gradcheck import GradcheckStopped, n_evaluations
from app.nn.gradcheck import gradcheck as run_gradcheck
from app.nn.network import Network
from app.nn.optimizers import OptState
from app.sessions.config import (
    PRESETS,
    ConfigError,
    FieldPath,
    SessionConfig,
    check_memory,
    normalize,
    renormalize,
)
from app.sessions.documents import EXPORT_FORMAT, counter, export, hex_float, history_cap
from app.sessions.model import Session, check_focus, spec_of
from app.sessions.normalized import NormalizedConfig
from app.sessions.parts import LayerDoc

# export is the document's other half (app/sessions/documents.py), kept here by name.
__all__ = ["export", "history_cap", "import_session"]



def new_watch_id() -> str:
    # 128 random bits, drawn independently of the session id: one cannot lead to the other.
    return secrets.token_urlsafe(16)


def forward(s: Session, through_all: bool = False) -> None:
    if through_all:
        s.trainer.forward_all()
    else:
        s.trainer.forward_step()


def backward(s: Session, through_all: bool = False) -> None:
    if through_all:
        s.trainer.backward_all()
    else:
        s.trainer.backward_step()


def update(s: Session) -> None:
    s.trainer.update_step()


def step(s: Session) -> None:
    s.trainer.step()


def check_epochs(epochs: int, settings: Settings) -> None:
    if not 1 <= epochs <= settings.max_epochs:
        raise ConfigError(("epochs",), f"epochs must be 1 to {settings.max_epochs}; got {epochs}")


def train(
    s: Session, epochs: int, settings: Settings, wait: float | None = None
) -> tuple[int, Literal["diverged", "time_budget"] | None]:
    """Train up to ``epochs`` epochs within train_time_budget. A session on the compiled kernel
    first waits up to ``wait`` seconds (default: kernel_wait, capped so that the wait and the
    train together stay a second inside lock_timeout) for this process to have compiled it."""
    check_epochs(epochs, settings)
    t = s.trainer
    # The counters stay within what an import accepts, so every export imports again.
    if (t.epoch + epochs > settings.max_history_epoch
            or t.iteration + epochs * t.n_batches > settings.max_iteration):
        raise ConfigError(("epochs",), f"the session would pass {settings.max_history_epoch} "
                          f"epochs (setting max_history_epoch) or {settings.max_iteration} "
                          "iterations (setting max_iteration): reset it or train fewer epochs")
    # The session's own kernel, whatever the timing: before the compiled one is ready, wait
    # (nothing has changed yet) rather than train on another. The budget starts after the wait,
    # so a train that waited runs as many epochs as one that did not.
    if wait is None:
        wait = min(settings.kernel_wait,
                   max(0.0, settings.lock_timeout - settings.train_time_budget - 1))
    kernel_slot.wait_for(s.config.kernel, wait)
    return t.run(epochs, settings.train_time_budget,
                 kernel=kernel_slot.implementation(s.config.kernel))


def patch(s: Session, changes: JSONObject, settings: Settings) -> None:
    """Change learning_rate, regularization, batch_size, focus, train_bias, optimizer; weights
    untouched. Another optimizer (or other parameters) starts its state afresh. ``changes``
    (PATCH's body, the settings form) are checked by renormalize."""
    merged: dict[str, object] = dict(changes)
    reg = changes.get("regularization")
    if isinstance(reg, dict):  # a field left out keeps its value
        merged["regularization"] = {**s.config.regularization.to_dict(), **reg}
    opt = changes.get("optimizer")
    if isinstance(opt, dict) and opt.get("name") in (None, s.config.optimizer.name):
        # The same optimizer: a parameter left out keeps its value.
        merged["optimizer"] = {**s.config.optimizer.to_dict(),
                               **{k: v for k, v in opt.items() if v is not None}}
    # Validate the whole config as it would be after the change (limits, shapes).
    normalized = renormalize(s.config, merged, settings)
    t = s.trainer
    check_focus(normalized, t.n_samples)
    new_batches = normalized.batch_size != s.config.batch_size
    restart = normalized.regularization != s.config.regularization or new_batches
    if normalized.optimizer != s.config.optimizer:
        t.reset_optimizer(normalized.optimizer)
    s.config = normalized  # the trainer reads learning_rate, train_bias, batch_size there
    t.net.spec = spec_of(normalized)
    if new_batches:
        # The epoch's batches change: start the epoch's batches afresh.
        t.batch_pos, t.epoch_loss_sum, t.epoch_test_loss = 0, 0.0, None
    if restart:
        t.discard_pass()
        # Earlier epochs' losses were taken with other batches or another penalty: the mse
        # (app/sessions/state.py) is derived from the next whole epoch on.
        t.mse_since = t.epoch + (1 if t.batch_pos else 0)
    t.status = "ok"


def set_weights(s: Session, layers: list[LayerDoc], settings: Settings, *,
                limit: bool = True) -> None:
    """Every weight at once (the pass restarts). ``limit=False`` (import) checks finiteness
    only: training may legitimately have grown weights beyond max_abs_value."""
    spec = s.trainer.net.spec
    if len(layers) != spec.L:
        raise ConfigError(("layers",), f"expected {spec.L} layers; got {len(layers)}")
    Ws, bs = [], []
    for l, (layer, n_prev, n) in enumerate(
        zip(layers, spec.layers[:-1], spec.layers[1:], strict=True)
    ):
        rows = layer.get("W")
        if rows is None or len(rows) != n_prev or any(len(row) != n for row in rows):
            if rows is None:
                got = "nothing"
            elif len({len(row) for row in rows}) > 1:  # ragged: no shape at all
                got = "rows of different lengths"
            else:
                got = f"{len(rows)} × {len(rows[0]) if rows else 0}"
            raise ConfigError(("layers", l, "W"), f"W of layer {l + 1} must be {n_prev} × {n}; "
                              f"got {got}")
        W = np.array(rows, dtype=np.float64)
        _check_values(W, ("layers", l, "W"), settings, limit)
        Ws.append(W)
        b = layer.get("b")
        if spec.bias:
            b_arr = np.array(b, dtype=np.float64) if b is not None else None
            if b_arr is None or b_arr.shape != (n,):
                raise ConfigError(("layers", l, "b"), f"b of layer {l + 1} must have {n} "
                                  "entries (the network has biases)")
            _check_values(b_arr, ("layers", l, "b"), settings, limit)
            bs.append(b_arr)
        elif b is not None:
            raise ConfigError(("layers", l, "b"), "the network has no biases: omit b")
    t = s.trainer
    t.net = Network(spec, Ws, bs if spec.bias else None)
    t.discard_pass()
    t.status = "ok"


def _check_values(x: np.ndarray, loc: FieldPath, settings: Settings,
                  limit: bool = True) -> None:
    if not np.all(np.isfinite(x)):
        raise ConfigError(loc, f"values must be finite with |v| ≤ {settings.max_abs_value:g}")
    if limit and np.any(np.abs(x) > settings.max_abs_value):
        raise ConfigError(loc, f"values must be finite with |v| ≤ {settings.max_abs_value:g}")


def reset(s: Session, config: NormalizedConfig | None, settings: Settings) -> None:
    """Re-initialise from the config (or a new normalized one), in place: same id."""
    fresh = Session.create(s.config if config is None else config, settings, id=s.id)
    s.config, s.trainer, s.task = fresh.config, fresh.trainer, fresh.task


class GradcheckLayer(TypedDict):
    layer: int  # 1-based
    grad_W: list[list[float]]
    grad_W_numeric: list[list[float | None]]  # NaN (a difference that overflowed): None
    grad_b: list[float] | None
    grad_b_numeric: list[float | None] | None
    max_rel_error: float | None


class GradcheckReport(TypedDict):
    epsilon: float
    batch_indices: list[int]
    layers: list[GradcheckLayer]
    max_rel_error: float | None  # None: some layer's is not finite


def gradcheck(s: Session, epsilon: float, settings: Settings,
              cancelled: Callable[[], bool] | None = None) -> GradcheckReport:
    """Finite differences against backprop; stops (ConfigError, 422) after
    gradcheck_time_budget seconds, and as soon as ``cancelled()`` (the client went away)."""
    if not (math.isfinite(epsilon) and 1e-10 <= epsilon <= 1e-1):
        raise ConfigError(("epsilon",), f"epsilon must be in [1e-10, 0.1]; got {epsilon:g}")
    t = s.trainer
    _, X, Y = t.current_batch()
    work = n_evaluations(t.net, len(X))
    if work > settings.gradcheck_max_work:
        raise ConfigError(("gradcheck",), f"this check needs {work} sample-forward passes; the "
                          f"limit is {settings.gradcheck_max_work} (use a smaller batch_size)")
    budget = settings.gradcheck_time_budget
    started = time.monotonic()
    deadline = started + budget
    n_params = work // (2 * len(X))
    asked, estimate = 0, 0.0

    def should_stop() -> bool:
        # Asked before each parameter: after gradcheck_estimate_after seconds, the pace so far
        # says how long the whole check takes; one that cannot finish in its budget stops.
        nonlocal asked, estimate
        now = time.monotonic()
        after = settings.gradcheck_estimate_after
        if after and asked and not estimate and now - started > after:
            estimate = (now - started) / asked * n_params
            if estimate > budget:
                return True
        asked += 1
        return now > deadline or (cancelled is not None and cancelled())

    try:
        checks = run_gradcheck(t.net, X, Y, epsilon, should_stop)
    except GradcheckStopped:
        took = f"about {max(estimate, budget):.0f} s" if estimate else f"over {budget:g} s"
        raise ConfigError(("gradcheck",), f"this check would take {took}, past its time "
                          f"budget of {budget:g} s (setting gradcheck_time_budget): use a "
                          "smaller batch_size") from None

    def finite(x: np.ndarray | None) -> Any:
        return None if x is None else np.where(np.isfinite(x), x, np.nan).tolist()

    layers = [GradcheckLayer(
        layer=l + 1,
        grad_W=c.grad_W.tolist(),
        grad_W_numeric=finite(c.grad_W_numeric),
        grad_b=None if c.grad_b is None else c.grad_b.tolist(),
        grad_b_numeric=finite(c.grad_b_numeric),
        max_rel_error=c.max_rel_error if math.isfinite(c.max_rel_error) else None,
    ) for l, c in enumerate(checks)]
    errs = [c.max_rel_error for c in checks]
    overall = max(errs) if errs and all(math.isfinite(e) for e in errs) else None
    return {"epsilon": epsilon, "batch_indices": t.current_batch()[0].tolist(),
            "layers": layers, "max_rel_error": overall}


def _import_opt(s: Session, doc: Any, settings: Settings) -> None:
    """The exported optimizer state, checked against the config's optimizer and the shapes."""
    t = s.trainer
    if doc is None:
        return
    opt = t.optimizer
    try:
        step = counter(doc, "step", settings.max_iteration)
    except ConfigError as e:
        raise ConfigError(("optimizer_state", *e.path), e.msg) from None
    layers = doc.get("layers") or []
    L = t.net.spec.L
    if len(layers) != L:
        raise ConfigError(("optimizer_state", "layers"), f"expected {L} layers; got "
                          f"{len(layers)}")
    shapes = t.net.param_shapes()
    m: list[np.ndarray] = []
    v: list[np.ndarray] = []
    for part, suffix in ((0, "W"), (L, "b")):
        if part and t.net.b is None:
            break
        for l, layer in enumerate(layers):
            for key, used, out in (("m", opt.uses_m, m), ("v", opt.uses_v, v)):
                name = f"{key}_{suffix}"
                raw = layer.get(name)
                loc: FieldPath = ("optimizer_state", "layers", l, name)
                if not used:
                    if raw is not None:
                        raise ConfigError(loc, f"{opt.name} keeps no {key}: omit {name}")
                    continue
                try:
                    x = np.array(raw if raw is not None else np.zeros(shapes[part + l]),
                                 dtype=np.float64)
                except (ValueError, TypeError):  # ragged rows
                    x = np.zeros(0)
                if x.shape != shapes[part + l]:
                    raise ConfigError(loc, f"{name} of layer {l + 1} must have the shape "
                                      f"{shapes[part + l]}")
                _check_values(x, loc, settings, limit=False)
                if key == "v" and np.any(x < 0):
                    raise ConfigError(loc, "second moments are ≥ 0")
                out.append(x)
    t.opt_state = OptState(step, tuple(m) if opt.uses_m else None,
                           tuple(v) if opt.uses_v else None)


def import_session(doc: Mapping[str, object], settings: Settings) -> Session:
    """A new session from an export document (checked here: a lesson file, a fork's export
    or POST …/import's body)."""
    if doc.get("format") != EXPORT_FORMAT:
        raise ConfigError(("format",), f"format must be {EXPORT_FORMAT!r}")
    config_doc = doc.get("config")
    if not isinstance(config_doc, dict):  # (ExportDocument checked it: a dict, or left out)
        config_doc = {}
    raw_config = dict(config_doc)
    raw_config.pop("preset", None)
    try:
        cfg = SessionConfig.model_validate(raw_config)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(("config", *err["loc"]), f"invalid config: {err['msg']}") from None
    preset = config_doc.get("preset")
    if preset is not None and (not isinstance(preset, str) or preset not in PRESETS):
        raise ConfigError(("config", "preset"), "preset must be null or one of "
                          + ", ".join(PRESETS))
    try:
        normalized = replace(normalize(cfg, settings), preset=preset)
        s = Session.create(normalized, settings)
    except ConfigError as e:  # name the field inside the document
        raise ConfigError(("config", *e.path), e.msg) from None
    weights = doc.get("weights")
    if not isinstance(weights, list):
        raise ConfigError(("weights",), "weights must be a list of {W, b} per layer")
    try:
        # The document's layers as set_weights takes them (it checks their shapes).
        set_weights(s, cast(list[LayerDoc], weights), settings, limit=False)
    except ConfigError as e:  # set_weights names its body's "layers"; here they are "weights"
        raise ConfigError(("weights", *e.path[1:]), e.msg) from None
    t = s.trainer
    t.epoch = counter(doc, "epoch", settings.max_history_epoch)
    t.iteration = counter(doc, "iteration", settings.max_iteration)
    t.batch_pos = counter(doc, "batch_pos", max(0, t.n_batches - 1))
    t.mse_since = counter(doc, "mse_since", settings.max_history_epoch)
    loss_max = settings.max_history_loss
    for key in ("epoch_loss_sum", "epoch_test_loss"):
        raw = doc.get(key, "0x0p+0" if key == "epoch_loss_sum" else None)
        # A partial epoch's sum holds at most n_batches losses.
        limit = loss_max * (t.n_batches if key == "epoch_loss_sum" else 1)
        setattr(t, key, None if raw is None else hex_float(raw, key, limit))
    history = doc.get("history") or []
    if not isinstance(history, list):
        raise ConfigError(("history",), "history must be a list of {epoch, loss, test_loss}")
    if len(history) > settings.history_limit:
        raise ConfigError(("history",), f"history has at most {settings.history_limit} points "
                          "(setting history_limit)")
    check_memory(normalized, settings, len(history))
    previous = -1
    for i, point in enumerate(history):
        if not isinstance(point, dict):
            point = {}  # no epoch: refused below
        epoch = point.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not (
            previous < epoch < t.epoch
        ):
            raise ConfigError(("history", i, "epoch"), "history epochs must be whole numbers, "
                              "strictly increasing and below the session's epoch "
                              f"(at most {settings.max_history_epoch}, setting "
                              "max_history_epoch)")
        previous = epoch
        values: list[float | None] = []
        for key in ("loss", "test_loss"):
            v = point.get(key)
            if v is None and key == "test_loss":
                values.append(None)
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                math.isfinite(v) and 0 <= v <= loss_max
            ):
                raise ConfigError(("history", i, key), f"history {key} values must be "
                                  f"finite numbers in [0, {loss_max:g}] (setting "
                                  "max_history_loss)")
            values.append(float(v))
        loss = values[0]
        assert loss is not None
        g = point.get("grad_norm")
        if g is not None and (not isinstance(g, list) or len(g) != t.net.spec.L or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                and v >= 0 for v in g)):
            raise ConfigError(("history", i, "grad_norm"), f"grad_norm must list "
                              f"{t.net.spec.L} finite norms ≥ 0 (one per layer)")
        t.history.append(epoch, loss, values[1], None if g is None else [
            float(v) for v in g if isinstance(v, (int, float))])
    t.status = "diverged" if doc.get("status") == "diverged" else "ok"
    _import_opt(s, doc.get("optimizer_state"), settings)
    return s
